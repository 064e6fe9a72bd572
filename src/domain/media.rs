//! Media rules: how a kept file can travel to a customer on each messenger, and what is
//! refused (too large, a type the messenger will not carry). Sizes are the providers'
//! documented limits.

use super::{Channel, MessageKind};

/// The largest file Forecourt keeps. Bigger ones are refused with a message in the topic.
pub const MAX_KEPT_BYTES: u64 = 100 * MB;
/// Telegram's Bot API downloads files of at most 20 MB (getFile).
pub const TELEGRAM_DOWNLOAD_BYTES: u64 = 20 * MB;

const MB: u64 = 1024 * 1024;

/// How a file goes out on a messenger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendAs {
    Picture,
    Video,
    Audio,
    File,
}

/// Why a file cannot go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the file is {size_mb} MB; {channel} takes at most {limit_mb} MB")]
    TooLarge { channel: &'static str, size_mb: u64, limit_mb: u64 },
    #[error("{channel} does not accept {what} files")]
    Unsupported { channel: &'static str, what: String },
}

/// Viber refuses files with these extensions.
const VIBER_FORBIDDEN: &[&str] = &[
    "exe", "bat", "cmd", "com", "msi", "scr", "vbs", "js", "jar", "apk", "ipa", "dll", "sh", "ps1", "reg", "lnk",
    "cpl", "pif", "gadget", "wsf", "hta", "inf",
];

fn ext(name: &str) -> String {
    name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default()
}

/// How a file of this kind, size, type and name goes to a customer on `channel`. Pictures
/// too big to travel as pictures go as files where the messenger allows.
pub fn plan(channel: Channel, kind: MessageKind, size: u64, mime: &str, name: &str) -> Result<SendAs, Refusal> {
    let mime = mime.to_ascii_lowercase();
    let too_large =
        |limit: u64| Refusal::TooLarge { channel: channel.label(), size_mb: size.div_ceil(MB), limit_mb: limit / MB };
    match channel {
        Channel::Telegram => {
            if size > 50 * MB {
                return Err(too_large(50 * MB));
            }
            Ok(match kind {
                MessageKind::Photo if size <= 10 * MB => SendAs::Picture,
                MessageKind::Video => SendAs::Video,
                MessageKind::Voice | MessageKind::Audio => SendAs::Audio,
                _ => SendAs::File,
            })
        }
        Channel::Viber => {
            if VIBER_FORBIDDEN.contains(&ext(name).as_str()) {
                return Err(Refusal::Unsupported { channel: channel.label(), what: format!(".{}", ext(name)) });
            }
            let picture_type = matches!(mime.as_str(), "image/jpeg" | "image/png" | "image/gif");
            if kind == MessageKind::Photo && picture_type && size <= MB {
                return Ok(SendAs::Picture);
            }
            if kind == MessageKind::Video && mime == "video/mp4" && size <= 26 * MB {
                return Ok(SendAs::Video);
            }
            if size > 50 * MB {
                return Err(too_large(50 * MB));
            }
            Ok(SendAs::File)
        }
        Channel::Whatsapp => {
            let image = matches!(mime.as_str(), "image/jpeg" | "image/png");
            let video = matches!(mime.as_str(), "video/mp4" | "video/3gpp");
            let audio = matches!(
                mime.as_str(),
                "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" | "audio/ogg; codecs=opus"
            );
            match kind {
                MessageKind::Photo if image && size <= 5 * MB => return Ok(SendAs::Picture),
                MessageKind::Video if video && size <= 16 * MB => return Ok(SendAs::Video),
                MessageKind::Voice | MessageKind::Audio if audio && size <= 16 * MB => return Ok(SendAs::Audio),
                _ => {}
            }
            if size > 100 * MB {
                return Err(too_large(100 * MB));
            }
            Ok(SendAs::File)
        }
    }
}

/// A file name for a kept file that came without one.
pub fn default_name(kind: MessageKind, mime: &str) -> String {
    let ext = match mime.split(';').next().unwrap_or("").trim() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" => "m4a",
        "audio/aac" => "aac",
        "audio/amr" => "amr",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    format!("{}.{ext}", kind.as_str())
}

/// A MIME type guessed from a file name, for files that arrive without one.
pub fn mime_from_name(name: &str) -> &'static str {
    match ext(name).as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "ogg" | "oga" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// A MIME type read from a file's first bytes, for the common types customers send.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |p: &[u8]| bytes.starts_with(p);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else if starts(b"%PDF-") {
        Some("application/pdf")
    } else if starts(b"OggS") {
        Some("audio/ogg")
    } else if bytes.get(4..8) == Some(b"ftyp") {
        Some(if bytes.get(8..11) == Some(b"3gp") { "video/3gpp" } else { "video/mp4" })
    } else if starts(b"ID3") {
        Some("audio/mpeg")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Channel::*;
    use MessageKind::*;

    #[test]
    fn pictures_go_as_pictures_within_each_limit_and_as_files_beyond() {
        assert_eq!(plan(Viber, Photo, MB, "image/jpeg", "a.jpg"), Ok(SendAs::Picture));
        assert_eq!(plan(Viber, Photo, MB + 1, "image/jpeg", "a.jpg"), Ok(SendAs::File));
        assert_eq!(plan(Viber, Photo, 1000, "image/webp", "a.webp"), Ok(SendAs::File));
        assert_eq!(plan(Whatsapp, Photo, 5 * MB, "image/png", "a.png"), Ok(SendAs::Picture));
        assert_eq!(plan(Whatsapp, Photo, 5 * MB + 1, "image/png", "a.png"), Ok(SendAs::File));
        assert_eq!(plan(Telegram, Photo, 10 * MB, "image/jpeg", "a.jpg"), Ok(SendAs::Picture));
        assert_eq!(plan(Telegram, Photo, 10 * MB + 1, "image/jpeg", "a.jpg"), Ok(SendAs::File));
    }

    #[test]
    fn each_channel_has_its_ceiling() {
        for (ch, limit) in [(Telegram, 50), (Viber, 50), (Whatsapp, 100)] {
            assert!(plan(ch, Document, limit * MB, "application/pdf", "x.pdf").is_ok(), "{ch:?} at the limit");
            let err = plan(ch, Document, limit * MB + 1, "application/pdf", "x.pdf").unwrap_err();
            assert_eq!(err, Refusal::TooLarge { channel: ch.label(), size_mb: limit + 1, limit_mb: limit });
            assert!(err.to_string().contains(&format!("at most {limit} MB")), "{err}");
        }
    }

    #[test]
    fn video_and_audio_where_the_type_fits() {
        assert_eq!(plan(Viber, Video, 26 * MB, "video/mp4", "v.mp4"), Ok(SendAs::Video));
        assert_eq!(plan(Viber, Video, 27 * MB, "video/mp4", "v.mp4"), Ok(SendAs::File));
        assert_eq!(plan(Whatsapp, Video, 16 * MB, "video/3gpp", "v.3gp"), Ok(SendAs::Video));
        assert_eq!(plan(Whatsapp, Video, 1000, "video/quicktime", "v.mov"), Ok(SendAs::File));
        assert_eq!(plan(Whatsapp, Voice, 1000, "audio/ogg", "v.ogg"), Ok(SendAs::Audio));
        assert_eq!(plan(Whatsapp, Voice, 1000, "audio/x-wav", "v.wav"), Ok(SendAs::File));
        assert_eq!(plan(Telegram, Voice, 1000, "audio/ogg", "v.ogg"), Ok(SendAs::Audio));
    }

    #[test]
    fn viber_refuses_executables() {
        let err = plan(Viber, Document, 10, "application/octet-stream", "setup.EXE").unwrap_err();
        assert_eq!(err.to_string(), "Viber does not accept .exe files");
        assert!(plan(Whatsapp, Document, 10, "application/octet-stream", "setup.exe").is_ok());
    }

    #[test]
    fn sniffing_the_common_types() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"%PDF-1.7"), Some("application/pdf"));
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42"), Some("video/mp4"));
        assert_eq!(sniff(b"\0\0\0\x18ftyp3gp4"), Some("video/3gpp"));
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn names_and_types() {
        assert_eq!(default_name(Photo, "image/jpeg"), "photo.jpg");
        assert_eq!(default_name(Voice, "audio/ogg; codecs=opus"), "voice.ogg");
        assert_eq!(default_name(Document, "x/unknown"), "document.bin");
        assert_eq!(mime_from_name("CAR.JPG"), "image/jpeg");
        assert_eq!(mime_from_name("noext"), "application/octet-stream");
    }
}
