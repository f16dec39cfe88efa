//! The chart of docs/BENCHMARKS.md's side-by-side: throughput against concurrency.

use std::path::Path;

use super::report::{thousands, Results};
use super::systems::Kind;

/// Throughput against concurrency, one line per system, both axes logarithmic, as SVG (text
/// is left to the viewer's fonts, so drawing needs none).
pub fn chart(results: &Results, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    let series: Vec<(Kind, Vec<(f64, f64)>)> = results
        .kinds
        .iter()
        .map(|&kind| {
            let points = results
                .clients
                .iter()
                .filter_map(|&n| results.cell(kind, n).map(|c| (n as f64, c.throughput)))
                .filter(|(_, t)| *t > 0.0)
                .collect();
            (kind, points)
        })
        .filter(|(_, points): &(Kind, Vec<(f64, f64)>)| !points.is_empty())
        .collect();
    let all = series.iter().flat_map(|(_, p)| p.iter().map(|(_, t)| *t));
    let (low, high) = all.fold((f64::MAX, 0.0f64), |(l, h), t| (l.min(t), h.max(t)));
    let (low, high) = if high > 0.0 {
        (low / 2.0, high * 2.0)
    } else {
        (1.0, 10.0)
    };
    let most = results.clients.iter().copied().max().unwrap_or(1) as f64;

    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let key_points: Vec<f64> = results.clients.iter().map(|&n| n as f64).collect();
    // The top decade is left empty for the legend.
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Acknowledged appends per second vs concurrent clients (both axes log)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(90)
        .build_cartesian_2d(
            (0.8f64..most * 1.25)
                .log_scale()
                .with_key_points(key_points),
            (low..high * 10.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("concurrent clients")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| thousands(*y))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(WHITE)
        .draw()?;
    let palette = [
        RGBColor(214, 39, 40),
        RGBColor(140, 86, 75),
        RGBColor(255, 152, 150),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(152, 223, 138),
        RGBColor(127, 127, 127),
        RGBColor(148, 103, 189),
        RGBColor(23, 23, 23),
        RGBColor(255, 127, 14),
        RGBColor(23, 190, 207),
        RGBColor(188, 189, 34),
    ];
    for (kind, points) in &series {
        // A system keeps its colour whichever others were skipped.
        let index = Kind::ALL.iter().position(|k| k == kind).unwrap_or(0);
        let color = palette[index % palette.len()];
        let style = ShapeStyle {
            color: color.to_rgba(),
            filled: true,
            stroke_width: if *kind == Kind::Relledger { 3 } else { 2 },
        };
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))?
            .label(kind.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
