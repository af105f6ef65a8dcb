// SPDX-License-Identifier: GPL-2.0
//! The chart: one group of bars per path, a bar for the tracepoint off and
//! one for it on, each going from the 1.00 line (rtun as fast as tun) to the
//! ratio; a dot for the paired ratio; the ratios written under the axis.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::results::{Row, RunInfo, Tracepoint};

pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 660;
/// The band above the plot: title, subtitle, legend.
const HEADER: u32 = 104;
/// Below the plot: the row of ratios, then the path's name on one or two
/// lines.
const X_LABELS: u32 = 70;

/// The bars' colours (tracepoint off, on).
pub const OFF: RGBColor = RGBColor(0x4c, 0x72, 0xb0);
pub const ON: RGBColor = RGBColor(0xdd, 0x84, 0x52);
/// A ratio under 1.00 is written in this colour.
const BELOW: RGBColor = RGBColor(0xc0, 0x1c, 0x28);
const TEXT: RGBColor = RGBColor(0x30, 0x30, 0x30);
const GRID: RGBColor = RGBColor(0xdc, 0xdc, 0xdc);

/// The x extent of a bar inside its path's group, which spans [i, i + 1).
fn bar_span(i: usize, tp: Tracepoint) -> (f64, f64) {
    let x = i as f64;
    match tp {
        Tracepoint::Off => (x + 0.10, x + 0.48),
        Tracepoint::On => (x + 0.52, x + 0.90),
    }
}

/// The y axis: from `lo` to `hi` with a label every `step`, all in
/// thousandths, so that 1.00 is always a label and the labels are exact.
struct Axis {
    lo: i64,
    hi: i64,
    step: i64,
}

/// Values are in thousandths on the axis.
const MILLI: f64 = 1000.0;

impl Axis {
    /// Covers every value and 1.00, with a tenth of their spread (at least
    /// 0.002) as room, in at most 12 steps of 1, 2 or 5 times a power of ten.
    fn new(values: impl Iterator<Item = f64>) -> Axis {
        let (mut min, mut max) = (1.0f64, 1.0f64);
        for v in values {
            min = min.min(v);
            max = max.max(v);
        }
        let pad = ((max - min) / 10.0).max(0.002);
        let (min, max) = ((min - pad) * MILLI, (max + pad) * MILLI);
        let mut step = 1;
        loop {
            for m in [1, 2, 5] {
                let s = step * m;
                let lo = ((min / s as f64).floor() as i64 * s).max(0);
                let hi = (max / s as f64).ceil() as i64 * s;
                if (hi - lo) / s <= 12 {
                    return Axis { lo, hi, step: s };
                }
            }
            step *= 10;
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo as f64 / MILLI..self.hi as f64 / MILLI
    }

    fn labels(&self) -> Vec<f64> {
        (0..)
            .map(|k| self.lo + k * self.step)
            .take_while(|&v| v <= self.hi)
            .map(|v| v as f64 / MILLI)
            .collect()
    }

    /// The decimals a label needs: 2, or 3 for steps under 0.01.
    fn decimals(&self) -> usize {
        if self.step % 10 == 0 {
            2
        } else {
            3
        }
    }
}

/// A path's name on one or two lines: `write_tap_1500` as `write_tap` over
/// `1500`, so that the names of neighbouring groups do not run into each
/// other; a name without a numeric last part stays whole.
fn name_lines(path: &str) -> Vec<&str> {
    match path.rsplit_once('_') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
            vec![a, b]
        }
        _ => vec![path],
    }
}

/// The title when none is given: one that names the mode, if known.
pub fn default_title(info: &RunInfo) -> String {
    match info.mode {
        Some(m) => format!("rtun/tun throughput per path, {}", m.describe()),
        None => "rtun/tun throughput per path".to_string(),
    }
}

/// The line under the title: what a ratio is, and where the numbers come
/// from.
fn subtitle(rows: &[Row], info: &RunInfo) -> String {
    let mut s = String::from(
        "rtun's median frames/s over tun's, per path and state of the skb:kfree_skb tracepoint; above 1.00, rtun is faster",
    );
    let mut from = Vec::new();
    if let Some(r) = rows.first().and_then(|x| x.rounds) {
        if rows.iter().all(|x| x.rounds == Some(r)) {
            from.push(format!("{r} round{}", if r == 1 { "" } else { "s" }));
        }
    }
    if let Some(rev) = &info.rev {
        from.push(format!("rtun {rev}"));
    }
    if let Some(k) = &info.kernel {
        from.push(k.clone());
    }
    if !from.is_empty() {
        s += &format!(" ({})", from.join(", "));
    }
    s
}

type DrawResult<T> = Result<T, String>;

/// A legend entry's mark.
enum Mark {
    Bar(RGBColor),
    Dot,
    Line,
}

fn de<E: std::fmt::Display>(e: E) -> String {
    format!("drawing the chart: {e}")
}

/// Draws `rows` as an SVG document. Fails only if plotters does (it should
/// not, drawing into a string).
pub fn draw(rows: &[Row], info: &RunInfo, title: &str) -> DrawResult<String> {
    // The paths in the order of their first row.
    let mut paths: Vec<&str> = Vec::new();
    for r in rows {
        if !paths.contains(&r.path.as_str()) {
            paths.push(&r.path);
        }
    }
    let group = |p: &str| paths.iter().position(|q| *q == p).unwrap_or(0);
    let n = paths.len().max(1) as f64;
    let axis = Axis::new(
        rows.iter()
            .flat_map(|r| r.ratio.into_iter().chain(r.paired)),
    );
    let has_paired = rows.iter().any(|r| r.paired.is_some());

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(de)?;
        let font = "sans-serif";
        let left = |f: FontDesc<'static>| {
            TextStyle::from(f)
                .color(&TEXT)
                .pos(Pos::new(HPos::Left, VPos::Center))
        };
        root.draw(&Text::new(
            title.to_string(),
            (24, 22),
            left((font, 27).into_font().style(FontStyle::Bold)),
        ))
        .map_err(de)?;
        root.draw(&Text::new(
            subtitle(rows, info),
            (24, 50),
            left((font, 16).into_font()),
        ))
        .map_err(de)?;

        // The legend, in a row under the subtitle.
        let ly = 80;
        let lstyle = left((font, 16).into_font());
        let mut legend = vec![
            (Mark::Bar(OFF), "tracepoint off"),
            (Mark::Bar(ON), "tracepoint on"),
        ];
        if has_paired {
            legend.push((Mark::Dot, "paired: median of the per-round ratios"));
        }
        legend.push((Mark::Line, "1.00: rtun as fast as tun"));
        let mut x = 24;
        for (mark, label) in legend {
            match mark {
                Mark::Bar(c) => {
                    root.draw(&Rectangle::new([(x, ly - 8), (x + 16, ly + 8)], c.filled()))
                }
                Mark::Dot => root.draw(&Circle::new((x + 8, ly), 4, BLACK.filled())),
                Mark::Line => root.draw(&PathElement::new(
                    vec![(x - 2, ly), (x + 18, ly)],
                    BLACK.stroke_width(2),
                )),
            }
            .map_err(de)?;
            root.draw(&Text::new(label.to_string(), (x + 24, ly), lstyle.clone()))
                .map_err(de)?;
            let (w, _) = root.estimate_text_size(label, &lstyle).map_err(de)?;
            x += 24 + w as i32 + 28;
        }
        let (_, body) = root.split_vertically(HEADER);
        let mut chart = ChartBuilder::on(&body)
            .margin_left(12)
            .margin_right(24)
            .margin_top(8)
            .margin_bottom(4)
            .x_label_area_size(X_LABELS)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..n, axis.range())
            .map_err(de)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            // No x labels: the ratios and names are drawn under the axis.
            .x_labels(0)
            // plotters' labels are multiples of 1, 2 or 5 times a power of
            // ten, so with as many as the axis' steps they are its steps,
            // 1.00 among them.
            .y_labels(axis.labels().len())
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .y_desc("rtun/tun")
            .y_label_formatter(&|v| format!("{v:.*}", axis.decimals()))
            .label_style((font, 16).into_font().color(&TEXT))
            .axis_desc_style((font, 17).into_font().color(&TEXT))
            .draw()
            .map_err(de)?;

        // A light line between the groups.
        let (ylo, yhi) = (axis.range().start, axis.range().end);
        chart
            .draw_series((1..paths.len()).map(|i| {
                PathElement::new(vec![(i as f64, ylo), (i as f64, yhi)], GRID.stroke_width(1))
            }))
            .map_err(de)?;
        // The bars, from 1.00 to the ratio.
        chart
            .draw_series(rows.iter().filter_map(|r| {
                let v = r.ratio?;
                let (x0, x1) = bar_span(group(&r.path), r.tracepoint);
                let c = match r.tracepoint {
                    Tracepoint::Off => OFF,
                    Tracepoint::On => ON,
                };
                Some(Rectangle::new(
                    [(x0, v.max(1.0)), (x1, v.min(1.0))],
                    c.filled(),
                ))
            }))
            .map_err(de)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 1.0), (n, 1.0)],
                BLACK.stroke_width(2),
            )))
            .map_err(de)?;
        chart
            .draw_series(rows.iter().filter_map(|r| {
                let (x0, x1) = bar_span(group(&r.path), r.tracepoint);
                Some(Circle::new(((x0 + x1) / 2.0, r.paired?), 4, BLACK.filled()))
            }))
            .map_err(de)?;

        // Under the axis: each bar's ratio, then the path's name.
        let below = |size: f64, c: &'static RGBColor| {
            TextStyle::from((font, size).into_font())
                .color(c)
                .pos(Pos::new(HPos::Center, VPos::Top))
        };
        for r in rows {
            let (x0, x1) = bar_span(group(&r.path), r.tracepoint);
            let (px, py) = chart.backend_coord(&((x0 + x1) / 2.0, ylo));
            let (s, c) = match r.ratio {
                Some(v) if v < 1.0 => (format!("{v:.4}"), &BELOW),
                Some(v) => (format!("{v:.4}"), &TEXT),
                None => ("no data".to_string(), &BELOW),
            };
            root.draw(&Text::new(s, (px, py + 8), below(14.0, c)))
                .map_err(de)?;
        }
        for (i, p) in paths.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(i as f64 + 0.5, ylo));
            for (k, l) in name_lines(p).into_iter().enumerate() {
                root.draw(&Text::new(
                    l.to_string(),
                    (px, py + 30 + 17 * k as i32),
                    below(16.0, &TEXT),
                ))
                .map_err(de)?;
            }
        }
        root.present().map_err(de)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::parse_csv;

    /// The value of the attribute `name` in the tag `tag`.
    fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let len = tag[start..].find('"')?;
        Some(&tag[start..start + len])
    }

    fn num(tag: &str, name: &str) -> i32 {
        attr(tag, name).unwrap().parse().unwrap()
    }

    /// Every `<KIND .../>` tag of the document.
    fn tags<'a>(svg: &'a str, kind: &str) -> Vec<&'a str> {
        svg.split(&format!("<{kind} "))
            .skip(1)
            .map(|t| &t[..t.find('>').unwrap()])
            .collect()
    }

    fn hex(c: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    }

    /// The y pixel of the 1.00 line: the one horizontal black polyline of
    /// stroke width 2 across the plot (the legend's sample is short).
    fn parity_y(svg: &str) -> i32 {
        let lines: Vec<Vec<(i32, i32)>> = tags(svg, "polyline")
            .into_iter()
            .filter(|t| {
                attr(t, "stroke") == Some("#000000") && attr(t, "stroke-width") == Some("2")
            })
            .map(|t| {
                attr(t, "points")
                    .unwrap()
                    .split_whitespace()
                    .map(|p| {
                        let (x, y) = p.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .filter(|pts: &Vec<(i32, i32)>| pts[1].0 - pts[0].0 > 200)
            .collect();
        assert_eq!(lines.len(), 1, "one 1.00 line: {lines:?}");
        assert_eq!(lines[0].len(), 2);
        assert_eq!(lines[0][0].1, lines[0][1].1, "horizontal");
        lines[0][0].1
    }

    /// The bars of colour `c`, as (y, height), without the legend's swatch
    /// (the only one 16 pixels wide and high, above the plot).
    fn bars(svg: &str, c: RGBColor) -> Vec<(i32, i32)> {
        tags(svg, "rect")
            .into_iter()
            .filter(|t| attr(t, "fill") == Some(hex(c).as_str()))
            .map(|t| (num(t, "y"), num(t, "height")))
            .filter(|&(y, _)| y > HEADER as i32)
            .collect()
    }

    const CSV: &str = "path,tracepoint,rounds,tun_median,tun_min,tun_max,rtun_median,rtun_min,rtun_max,ratio,paired_ratio
write_tap_64,off,9,1,1,1,1,1,1,1.0109,1.0109
write_tap_64,on,9,1,1,1,1,1,1,1.0286,1.0253
xmit_udp_1400,off,9,1,1,1,1,1,1,1.0307,1.0436
xmit_udp_1400,on,9,1,1,1,1,1,1,0.9999,0.9878
mq2_udp,off,9,1,1,1,1,1,1,1.1040,
drop_noreader,on,9,1,1,1,1,1,1,0.9500,0.9600
";

    #[test]
    fn one_bar_per_row_from_the_parity_line() {
        let rows = parse_csv("t.csv", CSV).unwrap();
        let svg = draw(&rows, &RunInfo::default(), "t").unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        let y1 = parity_y(&svg);
        let (off, on) = (bars(&svg, OFF), bars(&svg, ON));
        assert_eq!(off.len(), 3, "{off:?}");
        assert_eq!(on.len(), 3, "{on:?}");
        // Above 1.00 a bar ends on the line, below it starts there; in the
        // order of the rows.
        assert_eq!(off.iter().map(|b| b.0 + b.1).collect::<Vec<_>>(), [y1; 3]);
        assert_eq!(on[0].0 + on[0].1, y1);
        assert_eq!(on[1].0, y1);
        assert_eq!(on[2].0, y1);
        // Taller for a larger gap.
        assert!(off[2].1 > off[1].1 && off[1].1 > off[0].1, "{off:?}");
        assert!(on[2].1 > on[1].1, "{on:?}");
        // A dot per paired ratio, and one in the legend.
        assert_eq!(tags(&svg, "circle").len(), 5 + 1);
    }

    /// The text elements' contents.
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text ")
            .skip(1)
            .map(|t| {
                let t = &t[t.find('>').unwrap() + 1..];
                t[..t.find("</text>").unwrap()].trim()
            })
            .collect()
    }

    #[test]
    fn labels() {
        let rows = parse_csv("t.csv", CSV).unwrap();
        let info = RunInfo::new("bench/results-wall.csv", None);
        let svg = draw(&rows, &info, &default_title(&info)).unwrap();
        let t = texts(&svg);
        for s in [
            "rtun/tun throughput per path, wall clock",
            "tracepoint off",
            "tracepoint on",
            "1.00",
            "1.0109",
            "0.9999",
            "write_tap",
            "64",
            "xmit_udp",
            "1400",
            "mq2_udp",
            "drop_noreader",
        ] {
            assert!(t.contains(&s), "no text {s:?} in {t:?}");
        }
        assert!(t.iter().any(|s| s.ends_with("(9 rounds)")), "{t:?}");
        // Ratios under 1.00 stand out.
        let red = hex(BELOW);
        let below: Vec<&str> = svg
            .split("<text ")
            .skip(1)
            .filter(|t| attr(t, "fill") == Some(red.as_str()))
            .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].trim())
            .collect();
        assert_eq!(below, ["0.9999", "0.9500"]);
    }

    #[test]
    fn axis() {
        // The committed wall-clock results: 0.9878 to 1.104.
        let a = Axis::new([1.0109, 0.9878, 1.104].into_iter());
        assert_eq!((a.lo, a.hi, a.step, a.decimals()), (960, 1120, 20, 2));
        assert_eq!(
            a.labels(),
            [0.96, 0.98, 1.0, 1.02, 1.04, 1.06, 1.08, 1.1, 1.12]
        );
        // The icount ones: 1.0002 to 1.0242, all above 1.00.
        let a = Axis::new([1.0002, 1.0242].into_iter());
        assert_eq!((a.lo, a.hi, a.step, a.decimals()), (995, 1030, 5, 3));
        let a = Axis::new([0.2, 3.5].into_iter());
        assert!(a.labels().len() <= 13 && a.labels().contains(&1.0));
        assert!(a.lo <= 200 && a.hi >= 3500);
        let a = Axis::new([12345.0].into_iter());
        assert!(a.labels().len() <= 13 && a.labels().contains(&0.0));
        let a = Axis::new(std::iter::empty());
        assert!(a.labels().contains(&1.0));
        assert!(a.lo < 1000 && a.hi > 1000);
    }

    #[test]
    fn names() {
        assert_eq!(name_lines("write_tap_1500"), ["write_tap", "1500"]);
        assert_eq!(name_lines("drop_ringfull"), ["drop_ringfull"]);
        assert_eq!(name_lines("tso64k_seg"), ["tso64k_seg"]);
        assert_eq!(name_lines("x_"), ["x_"]);
    }
}
