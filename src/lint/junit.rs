//! `lint -o junit`: one test case per DaemonSet (failed when denied, with every finding in
//! the failure text; warnings in system-out), and one errored case per unreadable document,
//! for CI systems that show JUnit results.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::LintReport;
use crate::policy::Severity;

pub fn to_junit(report: &LintReport) -> String {
    let mut suite = TestSuite::new("dsguard lint");
    for ds in &report.daemonsets {
        let name = format!("{}/{}", ds.namespace, ds.name);
        let describe = |severity: Severity| -> Vec<String> {
            ds.findings
                .iter()
                .filter(|f| f.severity == severity)
                .map(|f| {
                    format!(
                        "{}:{}:{}: {} {}: {}",
                        ds.file,
                        f.position.line,
                        f.position.column,
                        f.rule_id,
                        f.rule_name,
                        f.message
                    )
                })
                .collect()
        };
        let denials = describe(Severity::Deny);
        let mut case = if denials.is_empty() {
            TestCase::new(name, TestCaseStatus::success())
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let first = ds
                .findings
                .iter()
                .find(|f| f.severity == Severity::Deny)
                .expect("a denial");
            status.set_message(format!("{} {}", first.rule_id, first.rule_name));
            status.set_type("dsguard-deny");
            status.set_description(denials.join("\n"));
            TestCase::new(name, status)
        };
        case.set_classname(format!("{}:{}", ds.file, ds.position.line));
        let mut out = describe(Severity::Warn);
        out.extend(describe(Severity::Info));
        if !out.is_empty() {
            case.set_system_out(out.join("\n"));
        }
        suite.add_test_case(case);
    }
    for error in &report.errors {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message("unreadable manifest");
        status.set_description(error.to_string());
        let mut case = TestCase::new(format!("{}:{}", error.file, error.position.line), status);
        case.set_classname(error.file.clone());
        suite.add_test_case(case);
    }
    let mut junit = Report::new("dsguard");
    junit.add_test_suite(suite);
    junit.to_string().expect("a JUnit report serializes")
}
