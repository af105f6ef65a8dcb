// SPDX-License-Identifier: GPL-2.0
//! The errnos each call may return, as docs/abi.md's "Errnos" table documents
//! them: `rtun` (both drivers) and `tun_only` (what tun.ko may also return,
//! where rtun differs on purpose). A host test parses docs/abi.md and checks
//! that it says the same as this table.

/// One row: the calls it covers, the errnos rtun may return, the errnos only
/// tun.ko returns.
pub struct Row {
    pub calls: &'static [&'static str],
    pub rtun: &'static [&'static str],
    pub tun_only: &'static [&'static str],
}

const fn row(
    calls: &'static [&'static str],
    rtun: &'static [&'static str],
    tun_only: &'static [&'static str],
) -> Row {
    Row {
        calls,
        rtun,
        tun_only,
    }
}

/// Keep in sync with docs/abi.md, "### Errnos" (checked by `readme_table_matches`).
pub const TABLE: &[Row] = &[
    row(&["open"], &["ENOMEM"], &[]),
    row(&["close", "poll"], &[], &[]),
    row(&["read"], &["EBADFD", "EAGAIN", "EFAULT", "EINVAL"], &[]),
    row(
        &["write"],
        &[
            "EBADFD", "EINVAL", "EFAULT", "EIO", "ENOMEM", "ENOBUFS", "EAGAIN", "EINTR", "EBUSY",
            "EMSGSIZE",
        ],
        &[],
    ),
    row(
        &["TUNSETIFF"],
        &[
            "EFAULT", "EEXIST", "EINVAL", "EBUSY", "EPERM", "E2BIG", "ENOMEM", "ENFILE",
        ],
        &[],
    ),
    row(
        &["TUNSETQUEUE"],
        &["EFAULT", "EINVAL", "EBUSY", "E2BIG", "EPERM", "ENOMEM"],
        &[],
    ),
    row(&["TUNGETFEATURES"], &["EFAULT"], &[]),
    row(&["TUNSETIFINDEX"], &["EFAULT", "EINVAL", "EPERM"], &[]),
    row(&["SIOCGSKNS"], &["EPERM", "EMFILE", "ENOMEM"], &[]),
    row(
        &["TUNGETDEVNETNS"],
        &["EBADFD", "EPERM", "EMFILE", "ENOMEM"],
        &[],
    ),
    row(
        &["TUNSETNOCSUM", "TUNSETDEBUG", "TUNSETPERSIST"],
        &["EBADFD"],
        &[],
    ),
    row(
        &[
            "TUNGETIFF",
            "TUNGETSNDBUF",
            "TUNGETVNETHDRSZ",
            "TUNGETVNETLE",
            "TUNSETVNETLE",
        ],
        &["EBADFD", "EFAULT"],
        &[],
    ),
    row(
        &[
            "TUNSETOWNER",
            "TUNSETGROUP",
            "TUNSETOFFLOAD",
            "TUNDETACHFILTER",
        ],
        &["EBADFD", "EINVAL"],
        &[],
    ),
    row(&["TUNSETLINK"], &["EBADFD", "EBUSY"], &[]),
    row(
        &["TUNSETTXFILTER", "TUNATTACHFILTER"],
        &["EBADFD", "EINVAL", "EFAULT", "ENOMEM"],
        &[],
    ),
    row(
        &["TUNGETFILTER", "TUNSETSNDBUF", "TUNSETVNETHDRSZ"],
        &["EBADFD", "EINVAL", "EFAULT"],
        &[],
    ),
    row(
        &["TUNSETVNETBE", "TUNGETVNETBE"],
        &["EBADFD", "EINVAL", "EFAULT", "EBUSY"],
        &[],
    ),
    row(
        &["TUNSETSTEERINGEBPF", "TUNSETFILTEREBPF"],
        &["EBADFD", "EFAULT", "EBADF", "EINVAL"],
        &[],
    ),
    row(&["TUNSETCARRIER"], &["EBADFD", "EFAULT", "EPERM"], &[]),
    row(&["SIOCGIFHWADDR"], &["EFAULT", "EBADFD", "ENODEV"], &[]),
    row(
        &["SIOCSIFHWADDR"],
        &[
            "EFAULT",
            "EBADFD",
            "EINVAL",
            "EOPNOTSUPP",
            "EADDRNOTAVAIL",
            "EBUSY",
            "ENODEV",
        ],
        &[],
    ),
    row(&["other SIOC*"], &["EFAULT", "EBADFD", "EINVAL"], &[]),
    row(&["other"], &["EBADFD", "EINVAL"], &[]),
];

/// Whether `errno` (a name) is documented for `call` on the driver: rtun, or
/// tun.ko (`tun`: also the tun-only column).
pub fn allowed(call: &str, errno: &str, tun: bool) -> bool {
    TABLE
        .iter()
        .filter(|r| r.calls.contains(&call))
        .any(|r| r.rtun.contains(&errno) || (tun && r.tun_only.contains(&errno)))
}

#[cfg_attr(not(test), allow(dead_code))]
pub fn known_call(call: &str) -> bool {
    TABLE.iter().any(|r| r.calls.contains(&call))
}

/// One row of docs/abi.md's table: (calls, rtun's errnos, tun.ko-only errnos).
#[cfg_attr(not(test), allow(dead_code))]
pub type ReadmeRow = (Vec<String>, Vec<String>, Vec<String>);

/// The rows of docs/abi.md's "### Errnos" section: `| calls | errnos | tun.ko also | when |`,
/// names in backquotes, "none" for no errno. Returns (calls, rtun, tun_only) per row.
#[cfg_attr(not(test), allow(dead_code))]
pub fn parse_readme(text: &str) -> Result<Vec<ReadmeRow>, String> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with('#') {
            inside = line.trim() == "### Errnos";
            continue;
        }
        if !inside || !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cells.len() < 4 {
            return Err(format!("short row: {line}"));
        }
        let names = |c: &str| -> Vec<String> {
            c.split(',')
                .map(|s| s.trim().trim_matches('`').to_string())
                .filter(|s| !s.is_empty() && s != "none")
                .collect()
        };
        rows.push((names(cells[0]), names(cells[1]), names(cells[2])));
    }
    if rows.is_empty() {
        return Err("no ### Errnos table in docs/abi.md".into());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtun_common::errno::ERRNO_NAMES;
    use std::collections::BTreeSet;

    #[test]
    fn every_name_in_the_table_is_an_errno() {
        for r in TABLE {
            for e in r.rtun.iter().chain(r.tun_only) {
                assert!(
                    ERRNO_NAMES.iter().any(|(_, n)| n == e),
                    "{e} in {:?}",
                    r.calls
                );
            }
        }
    }

    #[test]
    fn each_call_in_one_row() {
        let mut seen = BTreeSet::new();
        for r in TABLE {
            for c in r.calls {
                assert!(seen.insert(*c), "{c} twice");
            }
        }
    }

    #[test]
    fn lookups() {
        assert!(allowed("write", "EIO", false));
        assert!(allowed("write", "EAGAIN", false));
        assert!(allowed("write", "EMSGSIZE", false));
        assert!(!allowed("write", "ENOSPC", true));
        assert!(!allowed("TUNSETIFF", "EBADFD", false));
        assert!(allowed("TUNGETIFF", "EBADFD", false));
        assert!(!allowed("poll", "EINVAL", true));
        assert!(!allowed("nosuchcall", "EINVAL", true));
    }

    #[test]
    fn parse_sample() {
        let md = "## x\n### Errnos\n| call | errnos | tun.ko also | when |\n|---|---|---|---|\n\
                  | `read` | `EAGAIN`, `EFAULT` | none | empty |\n| `close`, `poll` | none | | - |\n### Next\n| `x` | `EIO` | | |\n";
        let rows = parse_readme(md).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, vec!["read"]);
        assert_eq!(rows[0].1, vec!["EAGAIN", "EFAULT"]);
        assert!(rows[0].2.is_empty());
        assert_eq!(rows[1].0, vec!["close", "poll"]);
        assert!(rows[1].1.is_empty());
    }

    /// docs/abi.md's table and TABLE say the same, row by row.
    #[test]
    fn readme_table_matches() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/abi.md");
        let text = std::fs::read_to_string(path).expect("docs/abi.md");
        let rows = parse_readme(&text).unwrap();
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let sets = |v: &Vec<String>| v.iter().cloned().collect::<BTreeSet<_>>();
        assert_eq!(
            rows.len(),
            TABLE.len(),
            "docs/abi.md has {} rows, the code {}",
            rows.len(),
            TABLE.len()
        );
        for (r, (calls, rtun, tun)) in TABLE.iter().zip(&rows) {
            assert_eq!(set(r.calls), sets(calls), "calls");
            assert_eq!(set(r.rtun), sets(rtun), "errnos of {calls:?}");
            assert_eq!(
                set(r.tun_only),
                sets(tun),
                "tun.ko-only errnos of {calls:?}"
            );
        }
    }
}
