//! Inventory files: `forecourt vehicles import FILE.csv` reads the documented header, checks
//! every row (VIN, year, price in exact minor units, mileage, status), and reports each bad
//! row with its line number; the good rows are imported, and a re-import updates (by VIN,
//! else by ERP reference) rather than duplicating.

use crate::domain::vehicle::{parse_price, parse_query, parse_vin, word_matches, SearchQuery, VehicleStatus};
use crate::store::{VehicleFilter, VehicleInput};

/// The columns a file may have, in the documented order. `make`, `model` and one of `vin`
/// or `erp_id` are required.
pub const COLUMNS: &[&str] = &[
    "vin",
    "stock_number",
    "make",
    "model",
    "trim",
    "year",
    "price",
    "currency",
    "mileage_km",
    "color",
    "status",
    "erp_id",
];

/// What a file held.
#[derive(Debug, Default)]
pub struct Parsed {
    /// (line, vehicle) for every good row.
    pub rows: Vec<(u64, VehicleInput)>,
    /// (line, what is wrong) for every bad row.
    pub errors: Vec<(u64, String)>,
    /// (line, note) for rows imported with a caveat (a VIN check digit that does not hold).
    pub warnings: Vec<(u64, String)>,
    /// Header columns Forecourt does not know (ignored).
    pub unknown_columns: Vec<String>,
}

/// A file Forecourt cannot read at all.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the file cannot be read as CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("the header lacks {0}; the columns are: {cols}", cols = COLUMNS.join(","))]
    MissingColumns(String),
}

/// Read a CSV inventory (comma or semicolon separated, UTF-8, an optional byte-order mark).
pub fn read(data: &[u8]) -> Result<Parsed, FileError> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let first_line = data.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter = if first_line.contains(&b';') && !first_line.contains(&b',') { b';' } else { b',' };
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).trim(csv::Trim::All).from_reader(data);
    let header: Vec<String> = reader.headers()?.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    let index = |name: &str| header.iter().position(|h| h == name);
    let missing: Vec<&str> = ["make", "model"].into_iter().filter(|c| index(c).is_none()).collect();
    if !missing.is_empty() {
        return Err(FileError::MissingColumns(missing.join(" and ")));
    }
    if index("vin").is_none() && index("erp_id").is_none() {
        return Err(FileError::MissingColumns("vin or erp_id".into()));
    }
    let mut out = Parsed {
        unknown_columns: header.iter().filter(|h| !COLUMNS.contains(&h.as_str())).cloned().collect(),
        ..Parsed::default()
    };
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                out.errors.push((line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        let field = |name: &str| {
            index(name).and_then(|i| record.get(i)).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
        };
        match row(&field) {
            Ok((v, warning)) => {
                if let Some(w) = warning {
                    out.warnings.push((line, w));
                }
                out.rows.push((line, v));
            }
            Err(e) => out.errors.push((line, e)),
        }
    }
    Ok(out)
}

fn number(name: &str, v: Option<String>, range: std::ops::RangeInclusive<i64>) -> Result<Option<i64>, String> {
    let Some(v) = v else { return Ok(None) };
    let digits: String = v.chars().filter(|c| !c.is_whitespace() && *c != '\u{a0}').collect();
    match digits.parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(format!("{name} `{v}` is not a whole number between {} and {}", range.start(), range.end())),
    }
}

fn row(field: &dyn Fn(&str) -> Option<String>) -> Result<(VehicleInput, Option<String>), String> {
    let make = field("make").ok_or("make is empty")?;
    let model = field("model").ok_or("model is empty")?;
    let (vin, vin_check_ok, warning) = match field("vin") {
        None => (None, true, None),
        Some(raw) => {
            let v = parse_vin(&raw).map_err(|e| e.to_string())?;
            let warning = (!v.check_digit_ok)
                .then(|| format!("VIN {} has a check digit that does not match (imported anyway)", v.value));
            (Some(v.value), v.check_digit_ok, warning)
        }
    };
    let erp_id = field("erp_id");
    if vin.is_none() && erp_id.is_none() {
        return Err("neither vin nor erp_id is given".into());
    }
    let status = match field("status") {
        None => None,
        Some(s) => Some(
            VehicleStatus::parse(&s)
                .ok_or_else(|| format!("status `{s}` is not one of available, reserved, sold, archived"))?,
        ),
    };
    let price_minor = field("price").map(|p| parse_price(&p)).transpose().map_err(|e| e.to_string())?;
    let currency = field("currency").map(|c| c.to_ascii_uppercase());
    if let Some(c) = &currency {
        if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!("currency `{c}` is not a three-letter code like USD, EUR or UAH"));
        }
    }
    Ok((
        VehicleInput {
            vin,
            vin_check_ok,
            stock_number: field("stock_number"),
            make,
            model,
            trim: field("trim"),
            year: number("year", field("year"), 1900..=2100)?,
            price_minor,
            currency,
            mileage_km: number("mileage_km", field("mileage_km"), 0..=5_000_000)?,
            color: field("color"),
            status,
            erp_id,
            erp: Default::default(),
        },
        warning,
    ))
}

/// Resolve what a manager typed against the makes and models in stock: each word must name
/// a make or a model (exactly, by prefix, or misspelled); words that name nothing (a trim,
/// a colour) are left out unless nothing else was given. `None`: nothing can match.
pub fn resolve(q: &SearchQuery, names: &[(String, String)]) -> Option<VehicleFilter> {
    let mut candidates: Option<Vec<(String, String)>> = None;
    let mut unmatched = 0;
    for w in &q.words {
        let hits: Vec<(String, String)> = names
            .iter()
            .filter(|(make, model)| {
                word_matches(w, make) || word_matches(w, model) || model.to_lowercase().replace([' ', '-'], "") == *w
            })
            .cloned()
            .collect();
        if hits.is_empty() {
            unmatched += 1;
            continue;
        }
        candidates = Some(match candidates {
            None => hits,
            Some(c) => c.into_iter().filter(|p| hits.contains(p)).collect(),
        });
    }
    let names = candidates.unwrap_or_default();
    let searched_by_words = q.words.len() > unmatched;
    if (searched_by_words && names.is_empty())
        || (!searched_by_words && unmatched > 0 && q.year.is_none() && q.vin_tail.is_none())
    {
        return None;
    }
    Some(VehicleFilter { names, year: q.year, vin_tail: q.vin_tail.clone(), include_archived: false })
}

/// Free-text vehicle search with the stock's makes and models cached for half a minute (so
/// a search is one indexed query; a make added meanwhile is found by VIN and year at once,
/// and by name within 30 s).
#[derive(Default)]
pub struct VehicleSearch {
    /// When the names were read, and the names.
    names: std::sync::Mutex<Option<(i64, Names)>>,
}

/// The stock's (make, model) pairs.
type Names = std::sync::Arc<Vec<(String, String)>>;

const NAMES_TTL_MS: i64 = 30_000;

impl VehicleSearch {
    pub async fn search(
        &self,
        store: &crate::store::Store,
        query: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<crate::store::VehicleRow>, crate::store::StoreError> {
        let cached = self.names.lock().expect("search cache").clone().filter(|(at, _)| now - at < NAMES_TTL_MS);
        let names = match cached {
            Some((_, n)) => n,
            None => {
                let n = std::sync::Arc::new(store.vehicle_names().await?);
                *self.names.lock().expect("search cache") = Some((now, n.clone()));
                n
            }
        };
        let q = parse_query(query);
        let Some(f) = resolve(&q, &names) else { return Ok(Vec::new()) };
        // A lone four-digit number may be a year or a VIN's last four: cars whose VIN ends
        // so come first, then cars of that year.
        if let (Some(year), true, None) = (q.year, q.words.is_empty(), &q.vin_tail) {
            let by_tail = VehicleFilter { year: None, vin_tail: Some(year.to_string()), ..f.clone() };
            let mut rows = store.search_vehicles(&by_tail, limit).await?;
            if (rows.len() as i64) < limit {
                let more = store.search_vehicles(&f, limit - rows.len() as i64).await?;
                rows.extend(more.into_iter().filter(|m| !rows.iter().any(|r| r.id == m.id)).collect::<Vec<_>>());
            }
            return Ok(rows);
        }
        store.search_vehicles(&f, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_rows_are_read_and_bad_ones_named_by_line() {
        let csv = "\u{feff}vin,make,model,year,price,currency,mileage_km,status,erp_id,notes\n\
                   1M8GDM9AXKP042788,Toyota,RAV4,2019,\"24 500.50\",usd,48000,available,ERP-1,first\n\
                   1M8GDM9A1KP042788,Kia,Sportage,2021,27000,EUR,12000,,ERP-2,\n\
                   SHORTVIN,Skoda,Octavia,2015,9000,EUR,,,,\n\
                   ,Skoda,Octavia,2015,9000,EUR,,sold,ERP-4,\n\
                   ,BMW,X3,1850,9000,EUR,,,ERP-5,\n\
                   ,BMW,X3,2018,12.345,EUR,,,ERP-6,\n\
                   ,,,,,,,,,\n\
                   ,BMW,X5,2018,40000,EUR,,scrapped,ERP-7,\n";
        let p = read(csv.as_bytes()).unwrap();
        assert_eq!(p.unknown_columns, vec!["notes"]);
        let lines: Vec<u64> = p.rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 3, 5]);
        let rav4 = &p.rows[0].1;
        assert_eq!((rav4.price_minor, rav4.currency.as_deref()), (Some(2_450_050), Some("USD")));
        assert_eq!(rav4.status, Some(VehicleStatus::Available));
        assert_eq!(p.rows[2].1.status, Some(VehicleStatus::Sold));
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert_eq!(p.warnings[0].0, 3);
        let errors: Vec<u64> = p.errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(errors, vec![4, 6, 7, 9], "{:?}", p.errors);
        assert!(p.errors[0].1.contains("17 characters"));
        assert!(p.errors[1].1.contains("year"));
        assert!(p.errors[2].1.contains("price"));
        assert!(p.errors[3].1.contains("status"));
    }

    #[test]
    fn typed_words_resolve_to_makes_and_models() {
        let names: Vec<(String, String)> =
            [("Toyota", "RAV4"), ("Toyota", "Camry"), ("Kia", "Sportage"), ("BMW", "X5")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        let f = resolve(&parse_query("toyta rav4 2019"), &names).unwrap();
        assert_eq!(f.names, vec![("Toyota".to_string(), "RAV4".to_string())]);
        assert_eq!(f.year, Some(2019));
        assert_eq!(resolve(&parse_query("toyota"), &names).unwrap().names.len(), 2);
        assert_eq!(resolve(&parse_query("sportage white"), &names).unwrap().names.len(), 1, "a colour is left out");
        assert!(resolve(&parse_query("zzzz"), &names).is_none());
        assert!(resolve(&parse_query("toyota x5"), &names).is_none(), "no Toyota X5");
        let f = resolve(&parse_query("042788"), &names).unwrap();
        assert!(f.names.is_empty() && f.vin_tail.as_deref() == Some("042788"));
    }

    #[test]
    fn semicolons_and_a_missing_column_are_handled() {
        let p = read(b"erp_id;make;model\nA1;Audi;A4\n").unwrap();
        assert_eq!(p.rows.len(), 1);
        let err = read(b"vin,make\n1M8GDM9AXKP042788,Toyota\n").unwrap_err();
        assert!(err.to_string().contains("model"), "{err}");
        let err = read(b"make,model\nToyota,RAV4\n").unwrap_err();
        assert!(err.to_string().contains("vin or erp_id"), "{err}");
    }
}
