//! The digest's chart: new leads per day, stacked by channel, drawn in-process with
//! `plotters` into a PNG. The font (DejaVu Sans, assets/fonts/) is compiled into the binary,
//! so the chart needs nothing from the machine it runs on.

use plotters::prelude::*;
use plotters::style::FontStyle;
use std::sync::Once;

const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
const WIDTH: u32 = 960;
const HEIGHT: u32 = 540;

fn font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is shipped and checked by the tests; it cannot fail to parse.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn rgb(hex: &str) -> RGBColor {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap_or(0x64748b);
    RGBColor((v >> 16) as u8, (v >> 8) as u8, v as u8)
}

/// A PNG of leads per day (`counts[day][channel]`, channels in the page's order).
pub fn leads_per_day(days: &[chrono::NaiveDate], counts: &[[i64; 6]], title: &str) -> anyhow::Result<Vec<u8>> {
    font();
    let channels = crate::web::report::svg_channels();
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("chart: {e}"))?;
        let max = counts.iter().map(|d| d.iter().sum::<i64>()).max().unwrap_or(0).max(1);
        let n = days.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 26))
            .margin(16)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..(max as f64 * 1.15).ceil())
            .map_err(|e| anyhow::anyhow!("chart: {e}"))?;
        let labels: Vec<String> = days.iter().map(|d| d.format("%d.%m").to_string()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_labels(n.min(15))
            .x_label_formatter(&|x| {
                // Only whole days are labelled, under their bar.
                let i = x.round();
                if (x - i).abs() > 0.01 || i < 0.0 {
                    return String::new();
                }
                labels.get(i as usize).cloned().unwrap_or_default()
            })
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(|e| anyhow::anyhow!("chart: {e}"))?;
        for (c, (_, name, colour)) in channels.iter().enumerate() {
            let colour = rgb(colour);
            let bars: Vec<Rectangle<(f64, f64)>> = counts
                .iter()
                .enumerate()
                .filter(|(_, d)| d[c] > 0)
                .map(|(i, d)| {
                    let below: i64 = d[..c].iter().sum();
                    let x = i as f64;
                    Rectangle::new([(x - 0.35, below as f64), (x + 0.35, (below + d[c]) as f64)], colour.filled())
                })
                .collect();
            if counts.iter().all(|d| d[c] == 0) {
                continue;
            }
            chart
                .draw_series(bars)
                .map_err(|e| anyhow::anyhow!("chart: {e}"))?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.2))
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(|e| anyhow::anyhow!("chart: {e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("chart: {e}"))?;
    }
    let img = image_png(&buf)?;
    Ok(img)
}

/// Encode the RGB buffer as PNG.
fn image_png(rgb: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut w = enc.write_header()?;
    w.write_image_data(rgb)?;
    w.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_a_png_of_the_right_size() {
        let days: Vec<_> = (0..14)
            .map(|i| chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap() + chrono::Duration::days(i))
            .collect();
        let mut counts = vec![[0i64; 6]; 14];
        counts[3] = [5, 2, 1, 1, 0, 0];
        counts[13] = [9, 0, 3, 0, 0, 0];
        let png = leads_per_day(&days, &counts, "New leads per day").unwrap();
        // Kept for a look, beside the browser tests' screenshots.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        if std::fs::create_dir_all(&dir).is_ok() {
            let _ = std::fs::write(dir.join("digest-chart.png"), &png);
        }
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        // Width and height in the IHDR chunk.
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), WIDTH);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), HEIGHT);
        // An empty fortnight still draws.
        assert!(leads_per_day(&days, &vec![[0; 6]; 14], "none").unwrap().len() > 1000);
    }
}
