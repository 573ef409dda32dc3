//! `--chart FILE.svg`: a hand-written SVG grouped bar chart of operations
//! per second, one group per workload and one bar per engine. The y axis is
//! logarithmic: synced writes and scans differ by four orders of magnitude.

use std::fmt::Write;

use super::measurement::Measurement;

/// Bar colours, one per engine in order of first appearance.
const COLOURS: [&str; 6] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

const BAR_WIDTH: f64 = 14.0;
const GROUP_GAP: f64 = 18.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 40.0;
const PLOT_HEIGHT: f64 = 300.0;
const BOTTOM: f64 = 110.0;

/// Escapes text for SVG content and attributes.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Renders the chart of `measurements` (in run order; repeated workload
/// names of one engine are separate groups) with `title`.
pub fn render(measurements: &[Measurement], title: &str) -> String {
    let mut engines: Vec<&str> = Vec::new();
    for m in measurements {
        if !engines.contains(&m.engine.as_str()) {
            engines.push(&m.engine);
        }
    }
    // Group g holds the g-th measurement of each engine.
    let mut groups: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    for (e, engine) in engines.iter().enumerate() {
        for (g, m) in measurements.iter().filter(|m| m.engine == *engine).enumerate() {
            if groups.len() <= g {
                groups.push((m.benchmark.clone(), vec![None; engines.len()]));
            }
            groups[g].1[e] = (!m.is_skipped()).then(|| m.ops_per_sec());
        }
    }
    let positive = || groups.iter().flat_map(|(_, v)| v.iter().flatten().copied()).filter(|v| *v > 0.0);
    let low_decade = positive().fold(f64::INFINITY, f64::min).log10().floor();
    let high_decade = positive().fold(0.0, f64::max).log10().ceil();
    let (low_decade, high_decade) = if low_decade.is_finite() && high_decade.is_finite() {
        (low_decade, high_decade.max(low_decade + 1.0))
    } else {
        (0.0, 1.0)
    };
    let y_of = |v: f64| {
        let fraction = ((v.max(1e-12).log10() - low_decade) / (high_decade - low_decade)).clamp(0.0, 1.0);
        TOP + PLOT_HEIGHT * (1.0 - fraction)
    };
    let group_width = engines.len() as f64 * BAR_WIDTH + GROUP_GAP;
    let width = LEFT + groups.len().max(1) as f64 * group_width + 20.0 + 130.0;
    let height = TOP + PLOT_HEIGHT + BOTTOM;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(svg, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(svg, "<text x=\"{LEFT}\" y=\"20\" font-size=\"14\">{}</text>", escape(title));
    // Axis with a grid line per decade.
    let mut decade = low_decade;
    while decade <= high_decade {
        let y = y_of(10f64.powf(decade));
        let plot_right = width - 150.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{plot_right:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">1e{decade:.0}</text>",
            LEFT - 6.0,
            y + 4.0
        );
        decade += 1.0;
    }
    let _ = writeln!(
        svg,
        "<text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">operations per second (log scale)</text>",
        TOP + PLOT_HEIGHT / 2.0
    );
    for (g, (name, values)) in groups.iter().enumerate() {
        let x0 = LEFT + GROUP_GAP / 2.0 + g as f64 * group_width;
        for (e, value) in values.iter().enumerate() {
            let Some(value) = *value else { continue };
            let x = x0 + e as f64 * BAR_WIDTH;
            let y = y_of(value);
            let bar_height = TOP + PLOT_HEIGHT - y;
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar_height:.1}\" fill=\"{}\">\
                 <title>{} {}: {:.0} ops/s</title></rect>",
                BAR_WIDTH - 1.0,
                COLOURS[e % COLOURS.len()],
                escape(engines[e]),
                escape(name),
                value
            );
        }
        let label_x = x0 + engines.len() as f64 * BAR_WIDTH / 2.0;
        let label_y = TOP + PLOT_HEIGHT + 12.0;
        let _ = writeln!(
            svg,
            "<text transform=\"translate({label_x:.1} {label_y:.1}) rotate(45)\">{}</text>",
            escape(name)
        );
    }
    let legend_x = width - 140.0;
    for (e, engine) in engines.iter().enumerate() {
        let y = TOP + 10.0 + e as f64 * 18.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{legend_x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
            y - 10.0,
            COLOURS[e % COLOURS.len()],
            legend_x + 18.0,
            escape(engine)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The title used for a run (`--num` and the engines).
pub fn title(num: u64, engines: &[String]) -> String {
    format!("db_bench workloads, {num} entries: {}", engines.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measurement::tests::sample;

    #[test]
    fn chart_has_a_bar_per_engine_and_workload() {
        let measurements = [
            sample("lsmkit", "fillseq", 2.0),
            sample("lsmkit", "readrandom", 4.0),
            sample("leveldb", "fillseq", 1.0),
            sample("leveldb", "readrandom", 8.0),
        ];
        let svg = render(&measurements, "t <&> \"q\"");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<title>").count(), 4);
        assert!(svg.contains("<title>lsmkit fillseq: 500000 ops/s</title>"));
        assert!(svg.contains("<title>leveldb readrandom: 125000 ops/s</title>"));
        assert!(svg.contains("t &lt;&amp;&gt; &quot;q&quot;"));
        assert_eq!(svg.matches("rotate(45)\">fillseq<").count(), 1);
        // Legend entries for both engines, in order.
        let lsmkit = svg.find(">lsmkit</text>").unwrap();
        let leveldb = svg.find(">leveldb</text>").unwrap();
        assert!(lsmkit < leveldb);
        // 1 000 000 ops/s (leveldb fillseq) is the tallest bar: it reaches
        // the top decade line.
        assert!(svg.contains(">1e6</text>"));
        assert!(svg.contains(&format!("y=\"{TOP:.1}\" width")));
    }

    #[test]
    fn empty_chart_is_still_valid() {
        let svg = render(&[], "nothing");
        assert!(svg.contains("nothing"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
