// SPDX-License-Identifier: GPL-2.0
//! Reading what scripts/bench.sh wrote: the summary CSV (one row per path
//! and tracepoint state) and the header lines of the log beside it.

use std::fmt;

/// The skb:kfree_skb tracepoint's state during a row's runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracepoint {
    Off,
    On,
}

impl Tracepoint {
    fn parse(s: &str) -> Option<Tracepoint> {
        match s {
            "off" => Some(Tracepoint::Off),
            "on" => Some(Tracepoint::On),
            _ => None,
        }
    }
}

impl fmt::Display for Tracepoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tracepoint::Off => "off",
            Tracepoint::On => "on",
        })
    }
}

/// One row of the summary CSV: what the chart draws of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub path: String,
    pub tracepoint: Tracepoint,
    /// Rounds measured; `None` if the CSV has no `rounds` column.
    pub rounds: Option<u32>,
    /// rtun's median over tun's; `None` (an empty cell) if a driver had no
    /// run that worked.
    pub ratio: Option<f64>,
    /// The median over the rounds of rtun/tun within a round; `None` if
    /// empty or if the CSV has no `paired_ratio` column.
    pub paired: Option<f64>,
}

/// The columns the chart needs; the others (the medians, minima and maxima
/// of frames/s) may be there or not.
const REQUIRED: [&str; 3] = ["path", "tracepoint", "ratio"];

/// Parses a summary CSV, `path,tracepoint,rounds,...,ratio,paired_ratio`
/// (columns found by their header name). `name` is the file's name, for the
/// messages, which say `NAME:LINE: what is wrong`. Blank lines and lines
/// starting with `#` are skipped. Fails on a missing column, a row whose
/// field count differs from the header's, a quoted field, an unknown
/// tracepoint state, a ratio that is not a positive finite number, a path and
/// tracepoint state given twice, or no row at all.
pub fn parse_csv(name: &str, text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let (hline, header) = lines
        .next()
        .ok_or_else(|| format!("{name}: empty: no header line"))?;
    let header = fields(name, hline, header)?;
    let col = |c: &str| header.iter().position(|h| h.trim() == c);
    let mut idx = [0; REQUIRED.len()];
    for (i, c) in REQUIRED.iter().enumerate() {
        idx[i] = col(c).ok_or_else(|| {
            format!(
                "{name}:{hline}: no '{c}' column in the header (the columns: {})",
                header.join(",")
            )
        })?;
    }
    let [ipath, itp, iratio] = idx;
    let (irounds, ipaired) = (col("rounds"), col("paired_ratio"));

    let mut rows: Vec<Row> = Vec::new();
    for (n, line) in lines {
        let f = fields(name, n, line)?;
        if f.len() != header.len() {
            return Err(format!(
                "{name}:{n}: {} fields, the header has {}",
                f.len(),
                header.len()
            ));
        }
        let path = f[ipath].trim();
        if path.is_empty() {
            return Err(format!("{name}:{n}: empty path"));
        }
        let tracepoint = Tracepoint::parse(f[itp].trim()).ok_or_else(|| {
            format!(
                "{name}:{n}: tracepoint is '{}', not off or on",
                f[itp].trim()
            )
        })?;
        let rounds = match irounds.map(|i| f[i].trim()) {
            None | Some("") => None,
            Some(s) => Some(
                s.parse::<u32>()
                    .map_err(|_| format!("{name}:{n}: rounds is '{s}', not a count"))?,
            ),
        };
        let ratio = ratio_cell(name, n, "ratio", f[iratio])?;
        let paired = match ipaired {
            Some(i) => ratio_cell(name, n, "paired_ratio", f[i])?,
            None => None,
        };
        if rows
            .iter()
            .any(|r| r.path == path && r.tracepoint == tracepoint)
        {
            return Err(format!(
                "{name}:{n}: {path} with the tracepoint {tracepoint} a second time"
            ));
        }
        rows.push(Row {
            path: path.to_string(),
            tracepoint,
            rounds,
            ratio,
            paired,
        });
    }
    if rows.is_empty() {
        return Err(format!("{name}: a header but no row"));
    }
    Ok(rows)
}

/// The comma-separated fields of a line; the summary CSV quotes nothing.
fn fields<'a>(name: &str, n: usize, line: &'a str) -> Result<Vec<&'a str>, String> {
    if line.contains('"') {
        return Err(format!(
            "{name}:{n}: a quoted field (a summary CSV has none; is this the samples file?)"
        ));
    }
    Ok(line.split(',').collect())
}

/// A ratio cell: empty (no value), or a positive finite number.
fn ratio_cell(name: &str, n: usize, what: &str, s: &str) -> Result<Option<f64>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
        _ => Err(format!(
            "{name}:{n}: {what} is '{s}', not a positive number"
        )),
    }
}

/// How the guest's time was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The host's clock (plain TCG).
    Wall,
    /// QEMU's -icount: guest time follows the instructions executed.
    Icount,
}

impl Mode {
    pub fn describe(self) -> &'static str {
        match self {
            Mode::Wall => "wall clock",
            Mode::Icount => "icount (guest time = instructions)",
        }
    }
}

/// What the chart says about the run besides the rows: from the header lines
/// of the log (`# guest: ...`, `# rtun sources: ...`, `# bench kernel: ...`)
/// that scripts/bench.sh writes beside the CSV, else from the CSV's name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunInfo {
    pub mode: Option<Mode>,
    /// The abbreviated commit of the module's sources.
    pub rev: Option<String>,
    /// `Linux 7.3.4`.
    pub kernel: Option<String>,
}

impl RunInfo {
    /// `log`: the text of the log, if there is one. The log's `# guest:`
    /// line decides the mode; without it, a CSV name with `icount` or `wall`
    /// in it.
    pub fn new(csv_name: &str, log: Option<&str>) -> RunInfo {
        let mut info = RunInfo::default();
        for line in log.unwrap_or("").lines() {
            let Some(rest) = line.strip_prefix("# ") else {
                continue;
            };
            if let Some(g) = rest.strip_prefix("guest:") {
                info.mode = Some(if g.contains("-icount") {
                    Mode::Icount
                } else {
                    Mode::Wall
                });
            } else if let Some(s) = rest.strip_prefix("rtun sources:") {
                info.rev = s
                    .split_whitespace()
                    .next()
                    .filter(|h| h.len() >= 7 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .map(String::from);
            } else if let Some(k) = rest.strip_prefix("bench kernel:") {
                // "linux-7.3-bench-KEY (Linux 7.3.4, configs/bench.config)"
                info.kernel = k
                    .split_once("(Linux ")
                    .and_then(|(_, v)| v.split([',', ')']).next())
                    .map(|v| format!("Linux {}", v.trim()));
            }
        }
        if info.mode.is_none() {
            let base = csv_name.rsplit('/').next().unwrap_or(csv_name);
            if base.contains("icount") {
                info.mode = Some(Mode::Icount);
            } else if base.contains("wall") {
                info.mode = Some(Mode::Wall);
            }
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "path,tracepoint,rounds,tun_median,tun_min,tun_max,rtun_median,rtun_min,rtun_max,ratio,paired_ratio";

    #[test]
    fn summary_csv() {
        let text = format!(
            "{HEADER}\n\
             write_tap_64,off,9,117617.1,111618.4,122097.4,118893.5,87835.5,128107.9,1.0109,1.0109\n\
             write_tap_64,on,9,94290.2,80691.4,103801.3,96986.0,73646.2,113479.3,1.0286,1.0253\r\n\
             \n\
             xmit_udp_1400,on,9,90529.0,85149.1,109280.8,90519.9,80450.9,107943.4,0.9999,\n"
        );
        let rows = parse_csv("r.csv", &text).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            Row {
                path: "write_tap_64".into(),
                tracepoint: Tracepoint::Off,
                rounds: Some(9),
                ratio: Some(1.0109),
                paired: Some(1.0109),
            }
        );
        assert_eq!(rows[1].tracepoint, Tracepoint::On);
        assert_eq!(rows[1].paired, Some(1.0253));
        assert_eq!(rows[2].ratio, Some(0.9999));
        assert_eq!(rows[2].paired, None);
    }

    #[test]
    fn columns_by_name() {
        let rows = parse_csv("r.csv", "ratio,tracepoint,path\n1.5,on,mq2_udp\n").unwrap();
        assert_eq!(rows[0].path, "mq2_udp");
        assert_eq!(rows[0].ratio, Some(1.5));
        assert_eq!(rows[0].rounds, None);
        assert_eq!(rows[0].paired, None);
        // A driver without a run that worked: empty medians and ratio.
        let rows = parse_csv("r.csv", &format!("{HEADER}\nmq2_udp,on,1,,,,,,,,\n")).unwrap();
        assert_eq!(rows[0].ratio, None);
    }

    fn err(text: &str) -> String {
        parse_csv("bench/x.csv", text).unwrap_err()
    }

    #[test]
    fn malformed() {
        assert_eq!(err(""), "bench/x.csv: empty: no header line");
        assert_eq!(
            err(&format!("{HEADER}\n")),
            "bench/x.csv: a header but no row"
        );
        assert_eq!(
            err("path,tracepoint\nmq2_udp,on\n"),
            "bench/x.csv:1: no 'ratio' column in the header (the columns: path,tracepoint)"
        );
        assert_eq!(
            err(&format!("{HEADER}\nmq2_udp,on,9,1,2,3\n")),
            "bench/x.csv:2: 6 fields, the header has 11"
        );
        assert_eq!(
            err(&format!("{HEADER}\nmq2_udp,both,9,1,1,1,1,1,1,1.0,1.0\n")),
            "bench/x.csv:2: tracepoint is 'both', not off or on"
        );
        assert_eq!(
            err(&format!("{HEADER}\nmq2_udp,on,9,1,1,1,1,1,1,fast,1.0\n")),
            "bench/x.csv:2: ratio is 'fast', not a positive number"
        );
        assert_eq!(
            err(&format!("{HEADER}\nmq2_udp,on,9,1,1,1,1,1,1,1.0,-1\n")),
            "bench/x.csv:2: paired_ratio is '-1', not a positive number"
        );
        assert_eq!(
            err(&format!("{HEADER}\nmq2_udp,on,9,1,1,1,1,1,1,NaN,1\n")),
            "bench/x.csv:2: ratio is 'NaN', not a positive number"
        );
        assert_eq!(
            err(&format!("{HEADER}\nmq2_udp,on,x,1,1,1,1,1,1,1,1\n")),
            "bench/x.csv:2: rounds is 'x', not a count"
        );
        assert_eq!(
            err(&format!(
                "{HEADER}\nmq2_udp,on,9,1,1,1,1,1,1,1,1\n\nmq2_udp,on,9,1,1,1,1,1,1,1,1\n"
            )),
            "bench/x.csv:4: mq2_udp with the tracepoint on a second time"
        );
        assert_eq!(
            err(&format!("{HEADER}\n,on,9,1,1,1,1,1,1,1,1\n")),
            "bench/x.csv:2: empty path"
        );
        // The samples file, given by mistake.
        assert!(err(
            "round,path,tracepoint,driver,frames_per_s,count,secs,extras,error\n\
             1,mq2_udp,off,tun,1.0,1,1.0,,\"\"\n"
        )
        .starts_with("bench/x.csv:1: no 'ratio' column"));
        assert!(err("path,tracepoint,ratio,error\n\
             mq2_udp,off,1.0,\"x\"\n")
        .starts_with("bench/x.csv:2: a quoted field"));
    }

    #[test]
    fn run_info() {
        let log = "# bench kernel: linux-7.3-bench-c0b852951f6fb94b (Linux 7.3.4, configs/bench.config)\n\
                   # rtun sources: 96acc7b IFF_BACKPRESSURE stops the transmit queue\n\
                   # host: Intel(R) Xeon(R) Processor, 2 cores\n\
                   # guest: QEMU 10.0.2 (Debian 1:10.0.2+ds-2), TCG with -icount shift=3,sleep=off (guest time = ...), 2 vCPUs, 1 GiB\n";
        let i = RunInfo::new("bench/results-wall.csv", Some(log));
        assert_eq!(i.mode, Some(Mode::Icount), "the log wins over the name");
        assert_eq!(i.rev.as_deref(), Some("96acc7b"));
        assert_eq!(i.kernel.as_deref(), Some("Linux 7.3.4"));
        let wall = "# guest: QEMU 10.0.2, TCG (multi-threaded: one host thread per vCPU), 2 vCPUs, 1 GiB\n\
                    # rtun sources: unknown\n";
        let i = RunInfo::new("x.csv", Some(wall));
        assert_eq!(i.mode, Some(Mode::Wall));
        assert_eq!(i.rev, None);
        assert_eq!(
            RunInfo::new("bench/results-icount.csv", None).mode,
            Some(Mode::Icount)
        );
        assert_eq!(
            RunInfo::new("/tmp/wall-run.csv", None).mode,
            Some(Mode::Wall)
        );
        assert_eq!(RunInfo::new("bench/quick.csv", None), RunInfo::default());
    }
}
