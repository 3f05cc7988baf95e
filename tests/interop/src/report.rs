//! Case outcomes: one line per case on stdout as it finishes, a closing
//! count, and optionally a JUnit-style XML file that ci/lib/sum_gtest_xml.py
//! sums with the GoogleTest results.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// What one case found.
pub enum Outcome {
    Pass,
    /// A mismatch between the Rust peer and our side, or a broken case.
    Fail(String),
    /// Not run to a verdict, with the reason (a Rust-side limit or a
    /// feature still pending on our side).
    Skip(String),
}

impl Outcome {
    /// `Fail` carrying `detail` unless `ok`.
    pub fn check(ok: bool, detail: impl FnOnce() -> String) -> Outcome {
        if ok {
            Outcome::Pass
        } else {
            Outcome::Fail(detail())
        }
    }
}

struct Entry {
    group: String,
    name: String,
    outcome: Outcome,
    elapsed: Duration,
}

#[derive(Default)]
pub struct Report {
    entries: Vec<Entry>,
    filter: Option<String>,
}

impl Report {
    pub fn new(filter: Option<String>) -> Self {
        Report {
            entries: Vec::new(),
            filter,
        }
    }

    /// Whether a case of this full name should run (the --only filter).
    pub fn wants(&self, group: &str, name: &str) -> bool {
        match &self.filter {
            Some(filter) => format!("{group}/{name}").contains(filter.as_str()),
            None => true,
        }
    }

    /// Runs `case` unless filtered out, then prints and records its outcome.
    pub fn run(&mut self, group: &str, name: &str, case: impl FnOnce() -> Outcome) {
        if !self.wants(group, name) {
            return;
        }
        let started = Instant::now();
        let outcome = case();
        self.record(group, name, outcome, started.elapsed());
    }

    /// Records an outcome decided elsewhere (for example a setup failure
    /// that decides every case of a group).
    pub fn record(&mut self, group: &str, name: &str, outcome: Outcome, elapsed: Duration) {
        if !self.wants(group, name) {
            return;
        }
        match &outcome {
            Outcome::Pass => println!("PASS {group}/{name}"),
            Outcome::Fail(detail) => println!("FAIL {group}/{name}: {detail}"),
            Outcome::Skip(reason) => println!("SKIP {group}/{name}: {reason}"),
        }
        self.entries.push(Entry {
            group: group.to_string(),
            name: name.to_string(),
            outcome,
            elapsed,
        });
    }

    /// (passed, failed, skipped)
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for entry in &self.entries {
            match entry.outcome {
                Outcome::Pass => counts.0 += 1,
                Outcome::Fail(_) => counts.1 += 1,
                Outcome::Skip(_) => counts.2 += 1,
            }
        }
        counts
    }

    pub fn write_junit(&self, path: &Path) -> std::io::Result<()> {
        let (passed, failed, skipped) = self.counts();
        let total: f64 = self.entries.iter().map(|e| e.elapsed.as_secs_f64()).sum();
        let mut xml = String::new();
        let _ = writeln!(xml, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let _ = writeln!(
            xml,
            r#"<testsuites name="interop" tests="{}" failures="{failed}" skipped="{skipped}" time="{total:.3}">"#,
            passed + failed + skipped
        );
        let _ = writeln!(
            xml,
            r#"  <testsuite name="interop" tests="{}" failures="{failed}" skipped="{skipped}" time="{total:.3}">"#,
            passed + failed + skipped
        );
        for entry in &self.entries {
            let _ = write!(
                xml,
                r#"    <testcase classname="{}" name="{}" time="{:.3}""#,
                escape(&entry.group),
                escape(&entry.name),
                entry.elapsed.as_secs_f64()
            );
            match &entry.outcome {
                Outcome::Pass => xml.push_str("/>\n"),
                Outcome::Fail(detail) => {
                    let _ = writeln!(
                        xml,
                        ">\n      <failure message=\"{}\"/>\n    </testcase>",
                        escape(detail)
                    );
                }
                Outcome::Skip(reason) => {
                    let _ = writeln!(
                        xml,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape(reason)
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, xml)
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
