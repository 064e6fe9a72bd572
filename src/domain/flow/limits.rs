//! What each messenger accepts from a flow: text lengths, how many buttons and how long
//! their labels may be. The file check reports every breach with its file and line.

/// Telegram: a message's text; WhatsApp: a text message's body.
pub const TELEGRAM_TEXT: usize = 4096;
pub const WHATSAPP_TEXT: usize = 4096;
/// WhatsApp: the body of an interactive (buttons or list) message.
pub const WHATSAPP_INTERACTIVE_BODY: usize = 1024;
/// Viber: a text message.
pub const VIBER_TEXT: usize = 7000;
/// WhatsApp: reply buttons (at most 3, titles of 20 characters) or a list (at most 10 rows,
/// titles of 24 characters).
pub const WHATSAPP_BUTTONS: usize = 3;
pub const WHATSAPP_BUTTON_TITLE: usize = 20;
pub const WHATSAPP_LIST_ROWS: usize = 10;
pub const WHATSAPP_ROW_TITLE: usize = 24;
/// Viber: a keyboard button's text.
pub const VIBER_BUTTON_TEXT: usize = 250;
/// Telegram: callback data is 64 bytes; the flow's button data is `f:` and the value.
pub const BUTTON_VALUE_BYTES: usize = 60;

/// Problems with a message's text of `chars` characters, said with `buttons` buttons.
pub fn text_problems(chars: usize, buttons: usize) -> Vec<String> {
    let mut out = Vec::new();
    if chars > TELEGRAM_TEXT {
        out.push(format!("{chars} characters: over Telegram's {TELEGRAM_TEXT}"));
    }
    if chars > VIBER_TEXT {
        out.push(format!("{chars} characters: over Viber's {VIBER_TEXT}"));
    }
    if buttons > 0 && chars > WHATSAPP_INTERACTIVE_BODY {
        out.push(format!("{chars} characters: over WhatsApp's {WHATSAPP_INTERACTIVE_BODY} for a message with buttons"));
    } else if chars > WHATSAPP_TEXT {
        out.push(format!("{chars} characters: over WhatsApp's {WHATSAPP_TEXT}"));
    }
    if chars == 0 {
        out.push("the text is empty".into());
    }
    out
}

/// Problems with a question's buttons: their number, each label's length, each value's.
pub fn button_problems(labels: &[&str], values: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let n = labels.len();
    if n > WHATSAPP_LIST_ROWS {
        out.push(format!("{n} buttons: WhatsApp shows at most {WHATSAPP_LIST_ROWS} (a list)"));
    }
    let title = if n <= WHATSAPP_BUTTONS { WHATSAPP_BUTTON_TITLE } else { WHATSAPP_ROW_TITLE };
    for l in labels {
        let c = l.chars().count();
        if c > title {
            let what = if n <= WHATSAPP_BUTTONS { "button titles" } else { "list rows" };
            out.push(format!("label '{l}' has {c} characters: WhatsApp {what} take {title}"));
        }
        if c > VIBER_BUTTON_TEXT {
            out.push(format!("label '{l}': over Viber's {VIBER_BUTTON_TEXT} characters"));
        }
        if c == 0 {
            out.push("a button label is empty".into());
        }
    }
    for v in values {
        if v.len() > BUTTON_VALUE_BYTES {
            out.push(format!("value '{v}' is over {BUTTON_VALUE_BYTES} bytes (Telegram's button data)"));
        }
        if v.is_empty() || v.contains(char::is_whitespace) {
            out.push(format!("value '{v}' must be one word"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_buttons_take_twenty_characters_ten_take_twenty_four_eleven_are_too_many() {
        assert!(button_problems(&["Buy", "Sell", "Service"], &["buy", "sell", "service"]).is_empty());
        let long = "Exactly twenty-one ch";
        assert_eq!(long.chars().count(), 21);
        assert_eq!(button_problems(&[long], &["x"]).len(), 1);
        let four = [long, "b", "c", "d"];
        assert!(button_problems(&four, &["a", "b", "c", "d"]).is_empty(), "a list row takes 24");
        let eleven: Vec<&str> = (0..11).map(|_| "x").collect();
        assert!(button_problems(&eleven, &eleven)[0].contains("at most 10"));
        assert_eq!(button_problems(&["ok"], &["two words"]).len(), 1);
        assert_eq!(button_problems(&["ok"], &[&"v".repeat(61)]).len(), 1);
    }

    #[test]
    fn text_limits_per_messenger() {
        assert!(text_problems(1000, 3).is_empty());
        assert_eq!(text_problems(1025, 2).len(), 1, "WhatsApp's interactive body");
        assert!(text_problems(1025, 0).is_empty());
        assert_eq!(text_problems(5000, 0).len(), 2, "Telegram and WhatsApp");
        assert_eq!(text_problems(8000, 0).len(), 3);
        assert_eq!(text_problems(0, 0).len(), 1);
    }
}
