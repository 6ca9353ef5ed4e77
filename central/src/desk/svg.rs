//! The statistics charts as SVG, drawn here so the page needs no chart
//! library (and nothing from a CDN on a closed lane network). Pure functions
//! from numbers to markup; colours match the desk's dark theme.

use std::fmt::Write;

pub const BG: &str = "#161a20";
const INK: &str = "#c9d1d9";
const MUTED: &str = "#7d8590";
const GRID: &str = "#2a313a";
const BAR: &str = "#4a8fbf";
const BAR_LIGHT: &str = "#2d5473";

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn open(width: u32, height: u32, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         font-family=\"system-ui, 'Noto Sans CJK SC', 'WenQuanYi Zen Hei', sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"{BG}\"/>\
         <text x=\"12\" y=\"22\" fill=\"{INK}\" font-size=\"14\">{}</text>",
        escape(title)
    )
}

/// A message in place of a chart with nothing to show.
pub fn empty(title: &str, message: &str) -> String {
    let mut s = open(640, 80, title);
    let _ = write!(s, "<text x=\"12\" y=\"56\" fill=\"{MUTED}\">{}</text></svg>", escape(message));
    s
}

/// The colour of a direct-release ratio: dim for low, bright teal for high.
fn ratio_colour(r: f64) -> String {
    let r = r.clamp(0.0, 1.0);
    let (l, s) = (18.0 + 30.0 * r, 25.0 + 30.0 * r);
    format!("hsl(178, {s:.0}%, {l:.0}%)")
}

/// Rows (lanes) by columns (days), each cell a ratio with its count, for
/// 200 lanes as readily as for three.
pub struct Heatmap<'a> {
    pub title: &'a str,
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    /// (row, column) -> (ratio, passages)
    pub cells: Vec<(usize, usize, f64, i64)>,
    pub legend: (&'a str, &'a str),
    /// Cell tooltip: row, column, ratio and passages put in by the caller's words.
    pub tooltip: &'a dyn Fn(&str, &str, f64, i64) -> String,
}

pub fn heatmap(h: &Heatmap) -> String {
    let label_w = 110u32;
    let cols = h.columns.len().max(1) as u32;
    let cell_w = ((900 - label_w) / cols).clamp(14, 60);
    let row_h = if h.rows.len() > 60 { 10 } else { 20 };
    // Wide enough for the title and the legend however few the days.
    let width = (label_w + cell_w * cols + 20).max(640);
    let top = 60u32;
    let height = top + row_h * h.rows.len() as u32 + 40;
    let mut s = open(width, height, h.title);
    for (i, c) in h.columns.iter().enumerate() {
        if cols <= 16 || i % ((cols as usize / 12).max(1)) == 0 {
            let x = label_w + cell_w * i as u32 + cell_w / 2;
            let _ = write!(
                s,
                "<text x=\"{x}\" y=\"{}\" fill=\"{MUTED}\" text-anchor=\"middle\">{}</text>",
                top - 8,
                escape(c)
            );
        }
    }
    for (i, r) in h.rows.iter().enumerate() {
        if row_h >= 14 || i % 5 == 0 {
            let y = top + row_h * i as u32 + row_h / 2 + 4;
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{y}\" fill=\"{INK}\" text-anchor=\"end\">{}</text>",
                label_w - 8,
                escape(r)
            );
        }
    }
    for (row, col, ratio, n) in &h.cells {
        let (x, y) = (label_w + cell_w * *col as u32, top + row_h * *row as u32);
        let tip = (h.tooltip)(&h.rows[*row], &h.columns[*col], *ratio, *n);
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}</title></rect>",
            cell_w - 1,
            row_h - 1,
            ratio_colour(*ratio),
            escape(&tip)
        );
        if cell_w >= 34 && row_h >= 14 {
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" fill=\"{INK}\" text-anchor=\"middle\" font-size=\"11\">{:.0}%</text>",
                x + cell_w / 2,
                y + row_h / 2 + 4,
                ratio * 100.0
            );
        }
    }
    let y = height - 16;
    for i in 0..=10 {
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"10\" fill=\"{}\"/>",
            label_w + i * 15,
            y - 9,
            ratio_colour(i as f64 / 10.0)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{y}\" fill=\"{MUTED}\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{y}\" fill=\"{MUTED}\">{}</text></svg>",
        label_w - 6,
        escape(h.legend.0),
        label_w + 11 * 15 + 6,
        escape(h.legend.1)
    );
    s
}

/// One horizontal bar per row: the solid part up to `a`, a lighter part up to
/// `b` (p50 and p95), the values written beside it.
pub struct Bars<'a> {
    pub title: &'a str,
    pub rows: Vec<(String, f64, Option<f64>, String)>,
    pub unit_note: &'a str,
}

pub fn bars(b: &Bars) -> String {
    let label_w = 200u32;
    let bar_w = 520.0;
    let row_h = 20u32;
    let top = 44u32;
    let height = top + row_h * b.rows.len() as u32 + 30;
    let width = label_w + bar_w as u32 + 160;
    let max = b.rows.iter().map(|r| r.2.unwrap_or(r.1)).fold(0.0f64, f64::max).max(1e-9);
    let mut s = open(width, height, b.title);
    for g in 0..=4 {
        let x = label_w as f64 + bar_w * g as f64 / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"{GRID}\"/>",
            height - 26
        );
    }
    for (i, (label, a, b2, text)) in b.rows.iter().enumerate() {
        let y = top + row_h * i as u32;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" fill=\"{INK}\" text-anchor=\"end\">{}</text>",
            label_w - 8,
            y + 14,
            escape(label)
        );
        if let Some(b2) = b2 {
            let _ = write!(
                s,
                "<rect x=\"{label_w}\" y=\"{}\" width=\"{:.1}\" height=\"12\" fill=\"{BAR_LIGHT}\"/>",
                y + 4,
                bar_w * b2 / max
            );
        }
        let _ = write!(
            s,
            "<rect x=\"{label_w}\" y=\"{}\" width=\"{:.1}\" height=\"12\" fill=\"{BAR}\"/>",
            y + 4,
            bar_w * a / max
        );
        let end = label_w as f64 + bar_w * b2.unwrap_or(*a) / max + 6.0;
        let _ = write!(s, "<text x=\"{end:.1}\" y=\"{}\" fill=\"{MUTED}\">{}</text>", y + 14, escape(text));
    }
    let _ = write!(
        s,
        "<text x=\"{label_w}\" y=\"{}\" fill=\"{MUTED}\">{}</text></svg>",
        height - 8,
        escape(b.unit_note)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed_and_escape_their_text() {
        let tip = |r: &str, c: &str, ratio: f64, n: i64| format!("{r} {c} {ratio:.2} {n}");
        let h = Heatmap {
            title: "direct <release>",
            rows: vec!["A/G01".into(), "A/G02".into()],
            columns: vec!["01-02".into()],
            cells: vec![(0, 0, 0.5, 10), (1, 0, 1.0, 3)],
            legend: ("0%", "100%"),
            tooltip: &tip,
        };
        let svg = heatmap(&h);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("direct &lt;release&gt;"));
        assert_eq!(svg.matches("<title>").count(), 2);
        assert!(svg.contains("A/G01 01-02 0.50 10"));
        let b = bars(&Bars {
            title: "t",
            rows: vec![("x".into(), 1.0, Some(2.0), "1 s / 2 s".into())],
            unit_note: "s",
        });
        assert!(b.contains("width=\"520.0\""), "the longest bar fills the width: {b}");
        assert!(empty("t", "nothing").contains("nothing"));
    }
}
