//! Signups per day as a bar chart: SVG drawn on the server, no script. The SVG is one
//! image to assistive technology, named by its title and summed up by its description;
//! the numbers themselves are in the table that follows it.

use maud::{Markup, html};

use crate::admin::dashboard::DayCount;

/// The drawing's coordinates: the SVG scales to the page's width.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 36.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 190.0;

/// The chart and its table. `time_zone` names the zone the days are counted in.
pub fn signups_chart(days: &[DayCount], time_zone: &str) -> Markup {
    let total: u64 = days.iter().map(|d| d.signups).sum();
    let busiest = days.iter().max_by_key(|d| (d.signups, &d.date));
    let summary = match busiest {
        Some(day) if total > 0 => format!(
            "{total} signups over {} days; the busiest day was {} with {}.",
            days.len(),
            day.date,
            day.signups
        ),
        _ => format!("No signups over the last {} days.", days.len()),
    };
    html! {
        figure class="chart" {
            (svg(days, &summary))
            figcaption class="muted" { (summary) " Days in " (time_zone) "." }
        }
        details class="chart-table" {
            summary { "Signups per day as a table" }
            div class="table-scroll" {
                table {
                    caption class="visually-hidden" { "Signups per day, last " (days.len()) " days, in " (time_zone) }
                    thead { tr { th scope="col" { "Day" } th scope="col" { "Signups" } } }
                    tbody {
                        @for day in days {
                            tr { th scope="row" { (day.date) } td { (day.signups) } }
                        }
                    }
                }
            }
        }
    }
}

fn svg(days: &[DayCount], summary: &str) -> Markup {
    let top = scale_top(days.iter().map(|d| d.signups).max().unwrap_or(0));
    let slot = (WIDTH - LEFT) / days.len().max(1) as f64;
    let y = |value: u64| BOTTOM - (BOTTOM - TOP) * value as f64 / top as f64;
    let viewbox = format!("0 0 {WIDTH} {HEIGHT}");
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(viewbox) role="img"
            aria-labelledby="chart-title chart-desc" preserveAspectRatio="xMidYMid meet" {
            title id="chart-title" { "Signups per day" }
            desc id="chart-desc" { (summary) }
            @for value in [0, top / 2, top] {
                line class="grid" x1=(LEFT) x2=(WIDTH) y1=(px(y(value))) y2=(px(y(value))) {}
                text class="axis" x=(LEFT - 6.0) y=(px(y(value) + 4.0)) text-anchor="end" { (value) }
            }
            @for (i, day) in days.iter().enumerate() {
                @let x = LEFT + slot * i as f64 + slot * 0.15;
                rect class="bar" x=(px(x)) y=(px(y(day.signups))) width=(px(slot * 0.7))
                    height=(px(BOTTOM - y(day.signups))) {
                    title { (day.date) ": " (day.signups) }
                }
                // Every week, and today, with room between the last two.
                @if (i % 7 == 0 && i + 3 < days.len()) || i + 1 == days.len() {
                    @let last = i + 1 == days.len();
                    // Today's label ends at the chart's edge rather than past it.
                    text class="axis" x=(px(if last { WIDTH } else { x + slot * 0.35 })) y=(px(BOTTOM + 18.0))
                        text-anchor=(if last { "end" } else { "middle" }) { (day.label) }
                }
            }
        }
    }
}

/// The value at the top of the chart: the largest count rounded up to 1, 2 or 5 times a
/// power of ten, and even, so that the middle line is a whole number.
fn scale_top(largest: u64) -> u64 {
    let mut unit = 1;
    loop {
        for step in [2, 5, 10] {
            if largest <= step * unit {
                return step * unit;
            }
        }
        unit *= 10;
    }
}

fn px(value: f64) -> String {
    format!("{value:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, signups: u64) -> DayCount {
        DayCount {
            date: date.into(),
            label: date.into(),
            signups,
        }
    }

    #[test]
    fn the_scale_ends_on_a_round_even_number() {
        for (largest, top) in [
            (0, 2),
            (1, 2),
            (2, 2),
            (3, 10 / 2),
            (7, 10),
            (11, 20),
            (51, 100),
        ] {
            assert_eq!(scale_top(largest), top, "{largest}");
        }
    }

    #[test]
    fn the_chart_is_one_named_image_and_its_numbers_are_in_a_table() {
        let days = [
            day("2026-03-01", 3),
            day("2026-03-02", 0),
            day("2026-03-03", 7),
        ];
        let html = signups_chart(&days, "Europe/Paris").into_string();
        assert!(html.contains(r#"role="img" aria-labelledby="chart-title chart-desc""#));
        assert!(html.contains("10 signups over 3 days; the busiest day was 2026-03-03 with 7."));
        assert!(html.contains(r#"<th scope="row">2026-03-02</th><td>0</td>"#));
        assert!(html.contains("Days in Europe/Paris."));
        assert_eq!(html.matches("<rect").count(), 3);
        assert!(!html.contains("<script"));
    }
}
