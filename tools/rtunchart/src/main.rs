// SPDX-License-Identifier: GPL-2.0
//! rtunchart: draws the summary CSV of scripts/bench.sh as an SVG chart, the
//! rtun/tun ratio of every path with the tracepoint off and on, against the
//! 1.00 line. A host tool: scripts/bench.sh runs it after the guest's run,
//! and `scripts/bench.sh --chart-only` on CSVs already written.

mod chart;
mod results;

use std::{fs, io, process::exit};

use rtun_common::Errno;

const USAGE: &str = "usage: rtunchart CSV SVG [--title TITLE]

Reads CSV, the summary that scripts/bench.sh writes (path,tracepoint,rounds,
...,ratio,paired_ratio), and writes SVG: a group of two bars per path
(tracepoint off, on), each from the 1.00 line to rtun/tun, a dot for the
paired ratio, the ratios under the axis. The title names the mode (wall clock
or icount) from the `# guest:` line of the log beside CSV (CSV without .csv,
plus .log), else from CSV's name; --title replaces it.";

fn usage_error(msg: &str) -> ! {
    eprintln!("rtunchart: {msg}\n{USAGE}");
    exit(2)
}

#[derive(Debug, PartialEq)]
struct Opts {
    csv: String,
    svg: String,
    title: Option<String>,
}

/// The options, or `None` for --help.
fn parse_args(args: &[String]) -> Result<Option<Opts>, String> {
    let mut files = Vec::new();
    let mut title = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--title" => {
                title = Some(it.next().ok_or("--title needs a text")?.clone());
            }
            s if s.starts_with("--title=") => title = Some(s["--title=".len()..].to_string()),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => files.push(a.clone()),
        }
    }
    match <[String; 2]>::try_from(files) {
        Ok([csv, svg]) => Ok(Some(Opts { csv, svg, title })),
        Err(f) => Err(format!("wants CSV and SVG, got {} file name(s)", f.len())),
    }
}

/// The log scripts/bench.sh writes beside `csv`: its text, or `None` if
/// there is none.
fn log_beside(csv: &str) -> Result<Option<String>, String> {
    let log = format!("{}.log", csv.strip_suffix(".csv").unwrap_or(csv));
    match fs::read_to_string(&log) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{log}: cannot read: {}", Errno::from(e))),
    }
}

/// Reads, draws and writes; the error says which file and what is wrong.
fn run(o: &Opts) -> Result<(), String> {
    let text = fs::read_to_string(&o.csv)
        .map_err(|e| format!("{}: cannot read: {}", o.csv, Errno::from(e)))?;
    let rows = results::parse_csv(&o.csv, &text)?;
    let info = results::RunInfo::new(&o.csv, log_beside(&o.csv)?.as_deref());
    let title = o
        .title
        .clone()
        .unwrap_or_else(|| chart::default_title(&info));
    let svg = chart::draw(&rows, &info, &title)?;
    fs::write(&o.svg, svg).map_err(|e| format!("{}: cannot write: {}", o.svg, Errno::from(e)))?;
    let missing = rows.iter().filter(|r| r.ratio.is_none()).count();
    if missing > 0 {
        eprintln!(
            "rtunchart: {}: {missing} row(s) without a ratio (a driver with no run that worked), drawn as \"no data\"",
            o.csv
        );
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_args(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return;
        }
        Err(e) => usage_error(&e),
    };
    if let Err(e) = run(&o) {
        eprintln!("rtunchart: {e}");
        exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn args(a: &[&str]) -> Result<Option<Opts>, String> {
        parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn command_line() {
        assert_eq!(
            args(&["a.csv", "--title", "T", "a.svg"]),
            Ok(Some(Opts {
                csv: "a.csv".into(),
                svg: "a.svg".into(),
                title: Some("T".into())
            }))
        );
        assert_eq!(
            args(&["a.csv", "a.svg", "--title=U"])
                .unwrap()
                .unwrap()
                .title
                .as_deref(),
            Some("U")
        );
        assert_eq!(args(&["--help"]), Ok(None));
        assert_eq!(
            args(&["a.csv"]),
            Err("wants CSV and SVG, got 1 file name(s)".into())
        );
        assert_eq!(
            args(&["a.csv", "a.svg", "--title"]),
            Err("--title needs a text".into())
        );
        assert_eq!(
            args(&["a.csv", "a.svg", "--png"]),
            Err("unknown option --png".into())
        );
    }

    /// A scratch folder of this test's own, removed at the end.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let d = std::env::temp_dir().join(format!("rtunchart-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&d);
            fs::create_dir_all(&d).unwrap();
            Scratch(d)
        }

        fn file(&self, name: &str) -> String {
            self.0.join(name).to_string_lossy().into_owned()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn opts(csv: &str, svg: &str) -> Opts {
        Opts {
            csv: csv.into(),
            svg: svg.into(),
            title: None,
        }
    }

    /// Every committed summary draws, with one bar per row and the mode its
    /// log says in the title.
    #[test]
    fn committed_results() {
        let d = Scratch::new("committed");
        let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench");
        for (name, mode) in [("results-wall", "wall clock"), ("results-icount", "icount")] {
            let csv = bench.join(format!("{name}.csv"));
            let csv = csv.to_str().unwrap();
            let svg = d.file(&format!("{name}.svg"));
            run(&opts(csv, &svg)).unwrap();
            let text = fs::read_to_string(&svg).unwrap();
            let rows = fs::read_to_string(csv)
                .unwrap()
                .lines()
                .skip(1)
                .filter(|l| !l.is_empty())
                .count();
            let bars = text
                .split("<rect ")
                .filter(|t| t.contains(" fill=\"#4C72B0\"") || t.contains(" fill=\"#DD8452\""))
                .count();
            assert_eq!(bars, rows + 2, "{name}: a bar per row and the legend's two");
            assert!(
                text.contains(&format!("\nrtun/tun throughput per path, {mode}")),
                "{name}"
            );
        }
    }

    #[test]
    fn errors_name_the_file() {
        let d = Scratch::new("errors");
        let (csv, svg) = (d.file("bad.csv"), d.file("bad.svg"));
        assert_eq!(
            run(&opts(&csv, &svg)),
            Err(format!("{csv}: cannot read: ENOENT"))
        );
        fs::write(&csv, "path,tracepoint,ratio\nmq2_udp,on,1.0\nmq2_udp,off\n").unwrap();
        assert_eq!(
            run(&opts(&csv, &svg)),
            Err(format!("{csv}:3: 2 fields, the header has 3"))
        );
        assert!(!Path::new(&svg).exists(), "nothing written on a bad CSV");
        fs::write(&csv, "path,tracepoint,ratio\nmq2_udp,on,1.0\n").unwrap();
        let nodir = d.file("no/such/dir.svg");
        assert_eq!(
            run(&opts(&csv, &nodir)),
            Err(format!("{nodir}: cannot write: ENOENT"))
        );
        run(&opts(&csv, &svg)).unwrap();
        assert!(fs::read_to_string(&svg)
            .unwrap()
            .contains("\nmq2_udp\n</text>"));
    }
}
