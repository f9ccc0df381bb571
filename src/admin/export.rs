//! The submissions as CSV, for the merchant's spreadsheet. A cell a visitor filled in can
//! start a formula that a spreadsheet would run, so every cell that begins like one is
//! neutralised with a leading single quote, as OWASP advises for CSV injection.

use super::ExportRow;

/// The header line, in the columns' order.
pub const COLUMNS: [&str; 11] = [
    "id",
    "received_at",
    "source",
    "first_name",
    "last_name",
    "email",
    "phone",
    "marketing_consent",
    "state",
    "delivered_at",
    "clover_customer_id",
];

/// The whole file: a header line, then one line per row, each ended by CRLF (RFC 4180).
/// Instants are RFC 3339 in UTC; a value retention erased is an empty cell.
pub fn csv(rows: &[ExportRow]) -> String {
    let mut out = String::new();
    push_line(&mut out, COLUMNS.iter().map(|c| (*c).to_owned()));
    for row in rows {
        push_line(&mut out, cells(row).into_iter());
    }
    out
}

fn cells(row: &ExportRow) -> [String; 11] {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    [
        row.id.to_string(),
        instant(row.received_at_ms),
        row.source.clone(),
        text(&row.first_name),
        text(&row.last_name),
        row.email.clone(),
        text(&row.phone),
        if row.marketing_consent { "yes" } else { "no" }.to_owned(),
        row.state.to_string(),
        row.delivered_at_ms.map(instant).unwrap_or_default(),
        text(&row.clover_customer_id),
    ]
}

pub(super) fn push_line(out: &mut String, cells: impl Iterator<Item = String>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&quoted(&neutralised(&cell)));
    }
    out.push_str("\r\n");
}

/// A cell a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, tab, carriage
/// return) gets a leading `'`, which shows it as the text it is. A phone number such as
/// `+44 20 7946 0000` is one of them: it reads `'+44 20 7946 0000` in the file.
pub fn neutralised(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

/// The cell in double quotes, doubling those inside, when it holds a separator, a quote
/// or a line break; as it is otherwise.
fn quoted(cell: &str) -> String {
    if cell.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

fn instant(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|at| at.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::SubmissionState;
    use crate::storage::SubmissionId;

    fn row() -> ExportRow {
        ExportRow {
            id: SubmissionId::from_stored("sub_1".into()),
            received_at_ms: 1_772_323_200_000,
            source: "form".into(),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace, Countess".into()),
            email: "ada@example.com".into(),
            phone: Some("+44 20 7946 0000".into()),
            marketing_consent: true,
            state: SubmissionState::Delivered,
            delivered_at_ms: Some(1_772_323_201_500),
            clover_customer_id: Some("C1".into()),
            details: Default::default(),
        }
    }

    #[test]
    fn cells_that_could_start_a_formula_are_neutralised() {
        for dangerous in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralised(dangerous), format!("'{dangerous}"));
        }
        for harmless in ["Ada", "", "1+1", "a=b", "'quoted", " =x"] {
            assert_eq!(neutralised(harmless), harmless);
        }
    }

    #[test]
    fn a_formula_in_a_name_reaches_the_file_as_text() {
        let mut evil = row();
        evil.first_name = Some("=HYPERLINK(\"http://x\",\"y\")".into());
        evil.last_name = Some("@cmd".into());
        let file = csv(&[evil]);
        let line = file.lines().nth(1).unwrap();
        assert!(
            line.contains(r#","'=HYPERLINK(""http://x"",""y"")","#),
            "{line}"
        );
        assert!(line.contains(",'@cmd,"), "{line}");
    }

    #[test]
    fn the_file_has_a_header_and_one_quoted_line_per_row() {
        let mut erased = row();
        (erased.first_name, erased.last_name, erased.phone) = (None, None, None);
        erased.email = String::new();
        erased.marketing_consent = false;
        let file = csv(&[row(), erased]);
        let lines: Vec<&str> = file.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "id,received_at,source,first_name,last_name,email,phone,marketing_consent,\
             state,delivered_at,clover_customer_id"
        );
        assert_eq!(
            lines[1],
            "sub_1,2026-03-01T00:00:00Z,form,Ada,\"Lovelace, Countess\",ada@example.com,\
             '+44 20 7946 0000,yes,delivered,2026-03-01T00:00:01.5Z,C1"
        );
        assert_eq!(
            lines[2],
            "sub_1,2026-03-01T00:00:00Z,form,,,,,no,delivered,2026-03-01T00:00:01.5Z,C1"
        );
        assert_eq!(lines[3], "", "the last line ends with CRLF too");
    }
}
