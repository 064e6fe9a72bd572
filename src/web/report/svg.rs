//! Charts drawn on the server as SVG: nothing loaded from anywhere, readable without
//! scripts, every bar a link to the leads behind it. Text is escaped here since the SVG is
//! passed to the template as markup.

use std::fmt::Write;

/// The channels' colours, in the order they stack.
pub const CHANNELS: [(&str, &str, &str); 6] = [
    ("viber", "Viber", "#7360f2"),
    ("whatsapp", "WhatsApp", "#1faa55"),
    ("telegram", "Telegram", "#2a9fd6"),
    ("call", "Calls", "#e08a00"),
    ("web", "Website", "#64748b"),
    ("email", "Email", "#a16207"),
];

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// One day's bar: its label, link and count per channel (in [`CHANNELS`] order).
pub struct DayBar {
    pub label: String,
    pub title: String,
    pub href: String,
    pub counts: [i64; 6],
}

/// Leads per day stacked by channel.
pub fn stacked_days(days: &[DayBar], caption: &str) -> String {
    let (w, h, left, bottom, top) = (720.0_f64, 240.0_f64, 36.0_f64, 28.0_f64, 10.0_f64);
    let max = days.iter().map(|d| d.counts.iter().sum::<i64>()).max().unwrap_or(0).max(1);
    let step = nice_step(max);
    let ymax = (max + step - 1) / step * step;
    let plot_h = h - bottom - top;
    let slot = (w - left) / days.len().max(1) as f64;
    let bar_w = (slot * 0.7).max(2.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(caption)
    );
    let mut y = 0;
    while y <= ymax {
        let py = top + plot_h - plot_h * y as f64 / ymax as f64;
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{w}" y1="{py:.1}" y2="{py:.1}" stroke="#e2e8f0"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end" fill="#475569">{y}</text>"##,
            left - 4.0,
            py + 4.0
        );
        y += step;
    }
    let label_every = (days.len() / 10).max(1);
    for (i, d) in days.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        let total: i64 = d.counts.iter().sum();
        let _ = write!(s, r#"<a href="{}"><title>{}</title>"#, esc(&d.href), esc(&d.title));
        let mut acc = 0i64;
        for (c, n) in d.counts.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let y0 = top + plot_h - plot_h * (acc + n) as f64 / ymax as f64;
            let bh = plot_h * *n as f64 / ymax as f64;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y0:.1}" width="{bar_w:.1}" height="{bh:.1}" fill="{}"/>"#,
                CHANNELS[c].2
            );
            acc += n;
        }
        if total == 0 {
            // An empty day still has something to click and hover.
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="{:.1}" width="{bar_w:.1}" height="2" fill="#cbd5e1"/>"##,
                top + plot_h - 2.0
            );
        }
        s.push_str("</a>");
        if i % label_every == 0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#475569">{}</text>"##,
                x + bar_w / 2.0,
                h - 10.0,
                esc(&d.label)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// One funnel step: label, count, link.
pub struct FunnelBar {
    pub label: String,
    pub count: i64,
    pub href: String,
}

/// The cumulative funnel as horizontal bars, each with its count.
pub fn funnel(steps: &[FunnelBar], caption: &str) -> String {
    let (w, row, label_w) = (720.0_f64, 30.0_f64, 130.0_f64);
    let h = row * steps.len() as f64 + 6.0;
    let max = steps.iter().map(|s| s.count).max().unwrap_or(0).max(1);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(caption)
    );
    for (i, st) in steps.iter().enumerate() {
        let y = 3.0 + row * i as f64;
        let bw = ((w - label_w - 60.0) * st.count as f64 / max as f64).max(1.0);
        let _ = write!(
            s,
            r##"<a href="{}"><title>{}: {}</title><text x="0" y="{:.1}" font-size="13" fill="#0f172a">{}</text><rect x="{label_w}" y="{:.1}" width="{bw:.1}" height="{:.1}" rx="3" fill="#2563eb"/><text x="{:.1}" y="{:.1}" font-size="13" fill="#0f172a">{}</text></a>"##,
            esc(&st.href),
            esc(&st.label),
            st.count,
            y + row * 0.62,
            esc(&st.label),
            y + 3.0,
            row - 8.0,
            label_w + bw + 6.0,
            y + row * 0.62,
            st.count
        );
    }
    s.push_str("</svg>");
    s
}

/// A round step for the y axis: about four lines.
fn nice_step(max: i64) -> i64 {
    let raw = (max as f64 / 4.0).max(1.0);
    let mag = 10f64.powi(raw.log10().floor() as i32);
    let n = raw / mag;
    let m = if n <= 1.0 {
        1.0
    } else if n <= 2.0 {
        2.0
    } else if n <= 5.0 {
        5.0
    } else {
        10.0
    };
    ((m * mag) as i64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(nice_step(1), 1);
        assert_eq!(nice_step(7), 2);
        assert_eq!(nice_step(40), 10);
        assert_eq!(nice_step(130), 50);
    }

    #[test]
    fn bars_link_to_their_leads_and_text_is_escaped() {
        let days = vec![
            DayBar { label: "1".into(), title: "<b>".into(), href: "/x?a=1&b=2".into(), counts: [2, 1, 0, 0, 0, 0] },
            DayBar { label: "2".into(), title: "t".into(), href: "/y".into(), counts: [0; 6] },
        ];
        let s = stacked_days(&days, "Leads");
        assert!(s.contains(r#"<a href="/x?a=1&amp;b=2">"#), "{s}");
        assert!(s.contains("&lt;b&gt;"));
        assert_eq!(s.matches("<rect").count(), 3, "two channels, one empty day");
        let f = funnel(&[FunnelBar { label: "New".into(), count: 5, href: "/n".into() }], "Funnel");
        assert!(f.contains(">5</text>") && f.contains(r#"href="/n""#));
    }
}
