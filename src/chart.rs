//! Trend charts as PNG images, drawn in-process: `plotters` into a pixel
//! buffer, text in DejaVu Sans embedded in the binary (no system fonts,
//! no external renderer), encoded with `png`.
//!
//! The chart is made for a phone: [`WIDTH`] × [`HEIGHT`] pixels, large
//! labels, sizes in the admin's unit family, dates on the time axis. On
//! the server-wide chart with `history.capacity`, the capacity is a
//! horizontal line and the forecast (the last 30 days' trend) a dashed
//! line towards it.
//!
//! Rendering is pure (memory in, bytes out); the font's licence is in
//! `assets/fonts/DejaVuSans.LICENSE` (Bitstream Vera licence; DejaVu's
//! changes are in the public domain).

use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;
use thiserror::Error;

use crate::core::doc::format;
use crate::core::history::trend::Forecast;
use crate::core::history::view::TrendView;

/// Width of a chart in pixels.
pub const WIDTH: u32 = 1200;
/// Height of a chart in pixels.
pub const HEIGHT: u32 = 720;

/// DejaVu Sans, from Debian's fonts-dejavu-core 2.37.
static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
/// The family name the chart asks plotters for.
const FAMILY: &str = "sans-serif";

const LINE: RGBColor = RGBColor(0x1f, 0x5f, 0xbf);
const FORECAST: RGBColor = RGBColor(0xd0, 0x5a, 0x00);
const CAPACITY: RGBColor = RGBColor(0xb0, 0x10, 0x10);

/// A PNG image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Png {
    /// The encoded file.
    pub bytes: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Why a chart could not be drawn.
#[derive(Debug, Error)]
pub enum ChartError {
    /// Nothing to draw: fewer than two points.
    #[error("a chart needs at least two runs")]
    TooFewPoints,
    /// The embedded font was refused.
    #[error("the embedded font cannot be loaded")]
    Font,
    /// Drawing failed.
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    /// Encoding failed.
    #[error("encoding the chart as PNG failed: {0}")]
    Encode(#[from] png::EncodingError),
}

fn font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(ChartError::Font) }
}

fn draw<E: std::fmt::Debug>(e: E) -> ChartError {
    ChartError::Draw(format!("{e:?}"))
}

/// The chart of `view`: bytes over time, with the capacity and the
/// forecast on the server-wide chart when there is one.
pub fn trend_chart(view: &TrendView) -> Result<Png, ChartError> {
    font()?;
    let (Some(first), Some(last)) = (view.points.first(), view.points.last()) else {
        return Err(ChartError::TooFewPoints);
    };
    if view.points.len() < 2 || first.at_ms == last.at_ms {
        return Err(ChartError::TooFewPoints);
    }
    let units = view.units;
    let x0 = first.at_ms as f64;
    let x_last = last.at_ms as f64;
    let span = x_last - x0;
    // The forecast goes a quarter of the span into the future.
    let forecast = view
        .forecast
        .filter(|(_, f)| !matches!(f, Forecast::NeedsHistory { .. }))
        .map(|(capacity, f)| {
            let x_end = x_last + span * 0.25;
            let y_end = match f {
                Forecast::InDays { at_ms, .. } => {
                    let to = at_ms as f64;
                    let rise = capacity as f64 - last.bytes as f64;
                    if to <= x_end {
                        (to, capacity as f64)
                    } else {
                        (
                            x_end,
                            last.bytes as f64 + rise * (x_end - x_last) / (to - x_last),
                        )
                    }
                }
                Forecast::Never | Forecast::Reached | Forecast::NeedsHistory { .. } => {
                    (x_end, last.bytes as f64)
                }
            };
            (capacity, f, y_end)
        });
    let x1 = forecast.map_or(x_last, |(_, _, (x, _))| x.max(x_last));
    let max_point = view.points.iter().map(|p| p.bytes).max().unwrap_or(0) as f64;
    let mut y_max = max_point;
    if let Some((capacity, _, (_, y))) = forecast {
        y_max = y_max.max(y);
        // The capacity line is drawn when it is in sight (within twice the
        // data's height).
        if (capacity as f64) <= max_point * 2.0 {
            y_max = y_max.max(capacity as f64);
        }
    }
    let y_max = (y_max * 1.1).max(1.0);

    let mut buffer = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw)?;
        let title = crate::core::text::trend::chart_title(view);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FAMILY, 40).into_font())
            .margin(24)
            .x_label_area_size(64)
            .y_label_area_size(170)
            .build_cartesian_2d(x0..x1, 0f64..y_max)
            .map_err(draw)?;
        // Times within a day, dates beyond (the forecast's part included).
        let date_format = format::time_axis((x1 - x0).max(0.0) as u64);
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(7)
            .x_label_formatter(&|x| {
                chrono::DateTime::from_timestamp_millis(*x as i64)
                    .map(|t| t.format(date_format).to_string())
                    .unwrap_or_default()
            })
            // Every label in the unit of the axis' top: `0.5 TB`, not
            // `500.0 GB`, under `1.0 TB`.
            .y_label_formatter(&|y| format::size_on_axis(y.max(0.0) as u64, y_max as u64, units))
            .label_style((FAMILY, 26))
            .axis_desc_style((FAMILY, 26))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .draw()
            .map_err(draw)?;
        let points: Vec<(f64, f64)> = view
            .points
            .iter()
            .map(|p| (p.at_ms as f64, p.bytes as f64))
            .collect();
        let label = match &view.user_id {
            Some(_) => "stored bytes",
            None => "media store",
        };
        chart
            .draw_series(LineSeries::new(points.clone(), LINE.stroke_width(4)))
            .map_err(draw)?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], LINE.stroke_width(4)));
        if points.len() <= 60 {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 5, LINE.filled())))
                .map_err(draw)?;
        }
        if let Some((capacity, f, end)) = forecast {
            if (capacity as f64) < y_max {
                chart
                    .draw_series(LineSeries::new(
                        vec![(x0, capacity as f64), (x1, capacity as f64)],
                        CAPACITY.stroke_width(3),
                    ))
                    .map_err(draw)?
                    .label(format!("capacity {}", format::size(capacity, units)))
                    .legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 30, y)], CAPACITY.stroke_width(3))
                    });
            }
            let text = match f {
                Forecast::InDays { days, .. } => format!(
                    "last 30 days' trend: {} in {} days",
                    format::size(capacity, units),
                    days.ceil().max(0.0) as u64
                ),
                Forecast::Never => "last 30 days' trend: not growing".to_owned(),
                Forecast::Reached => "capacity reached".to_owned(),
                Forecast::NeedsHistory { .. } => String::new(),
            };
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x_last, last.bytes as f64), end],
                    14,
                    10,
                    FORECAST.stroke_width(4),
                ))
                .map_err(draw)?
                .label(text)
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 30, y)], FORECAST.stroke_width(4))
                });
        }
        // Lower right: stores grow from the lower left, and the capacity
        // line runs along the top, where an upper legend would cover it.
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FAMILY, 26))
            .legend_area_size(48)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(draw)?;
        root.present().map_err(draw)?;
    }
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&buffer)?;
        writer.finish()?;
    }
    Ok(Png {
        bytes,
        width: WIDTH,
        height: HEIGHT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::doc::Units;
    use crate::core::history::trend::Point;
    use crate::core::history::view::trend_view;
    use std::time::Duration;

    const DAY: u64 = 86_400_000;

    fn decode(png_bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        (info, buf)
    }

    #[test]
    fn a_server_chart_is_a_png_of_the_size_with_the_line_and_the_forecast() {
        let now = 1_000 * DAY;
        let points: Vec<Point> = (0..=30u64)
            .map(|d| Point {
                at_ms: now - (30 - d) * DAY,
                bytes: 1_000_000_000_000 + d * 20_000_000_000,
            })
            .collect();
        let view = trend_view(
            None,
            Duration::from_secs(30 * 86_400),
            points,
            Some(2_000_000_000_000),
            Units::Decimal,
            now,
        );
        let png = trend_chart(&view).unwrap();
        assert_eq!((png.width, png.height), (WIDTH, HEIGHT));
        assert!(png.width >= 800);
        let (info, pixels) = decode(&png.bytes);
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let count = |c: RGBColor| {
            pixels
                .chunks(3)
                .filter(|p| p[0] == c.0 && p[1] == c.1 && p[2] == c.2)
                .count()
        };
        // The data line, the forecast and the capacity are drawn, and
        // some text (dark pixels of the labels).
        assert!(count(LINE) > 1000, "line: {}", count(LINE));
        assert!(count(FORECAST) > 200, "forecast: {}", count(FORECAST));
        assert!(count(CAPACITY) > 200, "capacity: {}", count(CAPACITY));
        assert!(
            pixels
                .chunks(3)
                .filter(|p| p[0] < 60 && p[1] < 60 && p[2] < 60)
                .count()
                > 2000
        );
        if let Ok(dir) = std::env::var("WARDEN_CHART_OUT") {
            std::fs::write(
                std::path::Path::new(&dir).join("trend-chart.png"),
                &png.bytes,
            )
            .unwrap();
        }
    }

    #[test]
    fn one_point_is_no_chart() {
        let view = trend_view(
            Some("@a:hs".into()),
            Duration::from_secs(86_400),
            vec![Point { at_ms: 5, bytes: 1 }],
            None,
            Units::Binary,
            10,
        );
        assert!(matches!(trend_chart(&view), Err(ChartError::TooFewPoints)));
    }
}
