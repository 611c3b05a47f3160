//! `coverage -o html` and `doctor -o html` in a real browser: headless Chromium (Debian's
//! `chromium`, installed by scripts/test) loads each page, the test reads the DOM the
//! browser built (`--dump-dom`) and checks every matrix cell against the JSON of the same
//! input, fails on any console message (the page's Content-Security-Policy reports any
//! fetch or script there), and writes screenshots to `target/html/` as artefacts.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const EXAMPLES: [&str; 10] = [
    "--config",
    "examples/dsguard.yaml",
    "--nodes",
    "examples/nodes.yaml",
    "--priorityclasses",
    "examples/priorityclasses.yaml",
    "--pods",
    "examples/pods.yaml",
    "--pdbs",
    "examples/pdbs.yaml",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dsguard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dsguard"))
        .args(args)
        .current_dir(repo())
        .env_remove("DSGUARD_OUTPUT")
        .output()
        .unwrap()
}

fn json_of(args: &[&str]) -> Value {
    let output = dsguard(args);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", String::from_utf8_lossy(&output.stderr)))
}

fn write_page(args: &[&str], dir: &Path, name: &str) -> PathBuf {
    let output = dsguard(args);
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let page = dir.join(name);
    std::fs::write(&page, &output.stdout).unwrap();
    page
}

/// Where screenshots go: `target/html/`, kept after the run.
fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("html");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the browser did with one page.
struct Browsed {
    /// `--dump-dom`'s output, or empty for a screenshot.
    dom: String,
    /// Every console message the page produced.
    console: Vec<String>,
    took: Duration,
}

/// Runs headless Chromium on `page` with `action` (`--dump-dom` or `--screenshot=...`).
fn browse(page: &Path, action: &str, profile: &Path) -> Browsed {
    let started = Instant::now();
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            // Containers often give /dev/shm 64 MB: a 45 MB page would not fit there.
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--window-size=1400,900",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(action)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium on the PATH (scripts/test installs Debian's chromium)");
    // Read both pipes while it runs: a 40 MB DOM does not fit a pipe's buffer.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish {} within 180 s", page.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let dom = out.join().unwrap();
    let log = err.join().unwrap();
    assert!(
        status.success(),
        "chromium failed on {}: {log}",
        page.display()
    );
    Browsed {
        dom,
        console: log
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_owned)
            .collect(),
        took,
    }
}

/// `COMMAND -o html ARGS` (`coverage` or `doctor`) written to `dir/name` and loaded in the
/// browser, which must log nothing, with `COMMAND -o json ARGS` of the same input.
fn in_browser(command: &str, args: &[&str], dir: &Path, name: &str) -> (PathBuf, Browsed, Value) {
    let page = write_page(&[&[command, "-o", "html"], args].concat(), dir, name);
    let json = json_of(&[&[command, "-o", "json"], args].concat());
    let browsed = browse(&page, "--dump-dom", &dir.join("profile"));
    assert_eq!(browsed.console, Vec::<String>::new(), "console messages");
    (page, browsed, json)
}

fn decode(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// One element as the browser serialized it: attributes and the HTML inside.
#[derive(Debug)]
struct Element {
    attributes: BTreeMap<String, String>,
    inner: String,
}

impl Element {
    fn get(&self, name: &str) -> &str {
        self.attributes.get(name).map_or("", String::as_str)
    }

    /// The text inside, tags removed.
    fn text(&self) -> String {
        let mut text = String::new();
        let mut in_tag = false;
        for c in self.inner.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        decode(&text)
    }
}

/// Every `<tag ...>...</tag>` in `html` (not nested in one of its own kind).
fn elements(html: &str, tag: &str) -> Vec<Element> {
    let open = format!("<{tag} ");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let end_of_tag = rest.find('>').unwrap();
        let attributes = parse_attributes(&rest[..end_of_tag]);
        rest = &rest[end_of_tag + 1..];
        let end = rest.find(&close).unwrap();
        found.push(Element {
            attributes,
            inner: rest[..end].to_owned(),
        });
        rest = &rest[end + close.len()..];
    }
    found
}

fn parse_attributes(text: &str) -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let name_end = rest.find(['=', ' ']).unwrap_or(rest.len());
        let name = rest[..name_end].to_owned();
        rest = &rest[name_end..];
        if let Some(value) = rest.strip_prefix("=\"") {
            let end = value.find('"').unwrap();
            attributes.insert(name, decode(&value[..end]));
            rest = value[end + 1..].trim_start();
        } else {
            attributes.insert(name, String::new());
            rest = rest.trim_start();
        }
    }
    attributes
}

/// The matrix cells: (daemonset, pool) → cell.
fn cells(dom: &str) -> BTreeMap<(String, String), Element> {
    elements(dom, "td")
        .into_iter()
        .filter(|td| td.attributes.contains_key("data-daemonset"))
        .map(|td| {
            (
                (
                    td.get("data-daemonset").to_owned(),
                    td.get("data-pool").to_owned(),
                ),
                td,
            )
        })
        .collect()
}

/// The states a cell says it holds, with node counts: its own, or its parts' when mixed.
fn states_of(cell: &Element) -> BTreeMap<String, u64> {
    let mut states = BTreeMap::new();
    let spans = elements(&cell.inner, "span");
    if spans.is_empty() {
        states.insert(
            cell.get("data-state").to_owned(),
            cell.get("data-nodes").parse().unwrap(),
        );
    }
    for span in spans {
        *states.entry(span.get("data-state").to_owned()).or_insert(0) +=
            span.get("data-nodes").parse::<u64>().unwrap();
    }
    states
}

/// The pool of every node of a `kubectl get nodes -o yaml` file, by dsguard's default pool
/// labels (the examples' config keeps them).
fn pools_of(nodes_file: &str) -> BTreeMap<String, String> {
    let keys = dsguard::config::Config::default()
        .rules
        .untolerated_taints
        .pool_label_keys;
    let file = std::fs::File::open(repo().join(nodes_file)).unwrap();
    let mut pools = BTreeMap::new();
    let mut add = |node: &Value| {
        if node["kind"] != "Node" {
            return;
        }
        let labels = &node["metadata"]["labels"];
        let pool = keys
            .iter()
            .find_map(|k| labels[k].as_str())
            .unwrap_or("(no pool label)");
        pools.insert(
            node["metadata"]["name"].as_str().unwrap().to_owned(),
            pool.to_owned(),
        );
    };
    dsguard::objects::read_objects(file, u64::MAX, nodes_file, |value, _| {
        match value["items"].as_array() {
            Some(items) => items.iter().for_each(&mut add),
            None => add(&value),
        }
        true
    })
    .unwrap();
    pools
}

fn names(list: &Value, field: Option<&str>) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|item| match field {
            Some(f) => item[f].as_str().unwrap().to_owned(),
            None => item.as_str().unwrap().to_owned(),
        })
        .collect()
}

/// From `coverage -o json`: (daemonset, pool) → state → nodes, each node in its first state
/// of: not targeted, blocked, unfit, no room, preempts, runs (docs/html.md).
fn expected_coverage(
    json: &Value,
    pools: &BTreeMap<String, String>,
) -> BTreeMap<(String, String), BTreeMap<String, u64>> {
    let mut expected: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
    for ds in json["daemonsets"].as_array().unwrap() {
        let key = format!(
            "{}/{}",
            ds["namespace"].as_str().unwrap(),
            ds["name"].as_str().unwrap()
        );
        let targeted = names(&ds["targeted"], None);
        let blocked = names(&ds["blocked"], Some("node"));
        let unfit = names(&ds["unfit"], Some("node"));
        let pending = names(&ds["occupancy"]["pending"], Some("node"));
        let preempts = names(&ds["occupancy"]["preempts"], Some("node"));
        for (node, pool) in pools {
            let state = if !targeted.contains(node) {
                "not-targeted"
            } else if blocked.contains(node) {
                "blocked"
            } else if unfit.contains(node) {
                "unfit"
            } else if pending.contains(node) {
                "no-room"
            } else if preempts.contains(node) {
                "preempts"
            } else {
                "runs"
            };
            *expected
                .entry((key.clone(), pool.clone()))
                .or_default()
                .entry(state.to_owned())
                .or_insert(0) += 1;
        }
    }
    expected
}

/// Cell by cell: the state, `mixed` exactly when several, the node counts.
fn assert_cells_match(
    cells: &BTreeMap<(String, String), Element>,
    expected: &BTreeMap<(String, String), BTreeMap<String, u64>>,
) {
    for (key, states) in expected {
        let cell = cells
            .get(key)
            .unwrap_or_else(|| panic!("no cell for {key:?}"));
        let word = if states.len() == 1 {
            states.keys().next().unwrap().as_str()
        } else {
            "mixed"
        };
        assert_eq!(cell.get("data-state"), word, "{key:?}: {}", cell.inner);
        assert_eq!(
            cell.get("data-nodes").parse::<u64>().unwrap(),
            states.values().sum::<u64>(),
            "{key:?}"
        );
        assert_eq!(&states_of(cell), states, "{key:?}: {}", cell.inner);
        // The state is in the text too, never in colour alone: written, or for a cell
        // that only runs or is only not targeted, the stylesheet's words (checked below).
        let text = if cell.inner.is_empty() {
            let (state, nodes) = states.iter().next().unwrap();
            assert!(
                ["runs", "not-targeted"].contains(&state.as_str()),
                "{key:?} is empty"
            );
            let words = if state == "runs" {
                "runs"
            } else {
                "not targeted"
            };
            format!("{words} {nodes}")
        } else {
            cell.text()
        };
        for (state, nodes) in states {
            let words = match state.as_str() {
                "not-targeted" => "not targeted",
                "blocked" => "blocked by taint",
                "no-room" => "no room",
                other => other,
            };
            if state != "unhealthy" {
                assert!(
                    text.contains(&format!("{words} {nodes}")),
                    "{key:?}: {text:?}"
                );
            }
        }
    }
}

#[test]
fn the_coverage_picture_of_the_examples_agrees_with_coverage_json_cell_by_cell() {
    let dir = common::scratch_dir("html", "coverage");
    let args = [&EXAMPLES[..], &["examples/daemonsets/"]].concat();
    let (page, browsed, json) = in_browser("coverage", &args, &dir, "coverage.html");
    for rule in [
        r#"td[data-state="runs"]:empty::before { content: "runs " attr(data-nodes) }"#,
        r#"td[data-state="not-targeted"]:empty::before { content: "not targeted " attr(data-nodes) }"#,
    ] {
        let compact = |s: &str| s.replace([' ', '"'], "");
        assert!(
            compact(&browsed.dom).contains(&compact(rule)),
            "the stylesheet writes {rule}"
        );
    }
    let cells = cells(&browsed.dom);
    let expected = expected_coverage(&json, &pools_of("examples/nodes.yaml"));
    assert_eq!(
        cells.len(),
        expected.len(),
        "one cell per DaemonSet and pool"
    );
    assert_cells_match(&cells, &expected);
    // The examples show more than one state, and DSG007's.
    let states: Vec<&str> = cells.values().map(|c| c.get("data-state")).collect();
    for state in ["runs", "not-targeted", "blocked", "unfit", "mixed"] {
        assert!(states.contains(&state), "{state} in {states:?}");
    }
    // Counts per row (nodes it runs on) and per column (DaemonSets that run there).
    let totals: Vec<Element> = elements(&browsed.dom, "td")
        .into_iter()
        .filter(|td| td.attributes.contains_key("data-runs"))
        .collect();
    for ds in json["daemonsets"].as_array().unwrap() {
        let key = format!(
            "{}/{}",
            ds["namespace"].as_str().unwrap(),
            ds["name"].as_str().unwrap()
        );
        let runs: u64 = cells
            .iter()
            .filter(|((d, _), _)| *d == key)
            .map(|(_, c)| states_of(c).get("runs").copied().unwrap_or(0))
            .sum();
        let row = &browsed.dom[browsed
            .dom
            .find(&format!("<tr data-daemonset=\"{key}\""))
            .unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(
            row.contains(&format!("data-runs=\"{runs}\"")),
            "{key}: {row}"
        );
    }
    let pools: Vec<&str> = cells.keys().map(|(_, p)| p.as_str()).collect();
    for pool in pools {
        let running = cells
            .iter()
            .filter(|((_, p), c)| p == pool && states_of(c).contains_key("runs"))
            .count();
        let total = totals
            .iter()
            .find(|t| t.get("data-pool") == pool)
            .unwrap_or_else(|| panic!("no column count for {pool}"));
        assert_eq!(total.get("data-runs"), running.to_string(), "{pool}");
    }
    // A problem cell's reason and fix: on hover, and in the details it links to.
    let blocked = cells
        .values()
        .find(|c| c.get("data-state") == "blocked")
        .unwrap();
    assert!(
        blocked.get("title").contains("untolerated"),
        "{:?}",
        blocked.get("title")
    );
    let link = blocked
        .inner
        .split('"')
        .nth(1)
        .unwrap()
        .trim_start_matches('#');
    let detail = &browsed.dom[browsed.dom.find(&format!("id=\"{link}\"")).unwrap()..];
    assert!(
        detail[..detail.find("</tr>").unwrap()].contains("tolerations:"),
        "{detail:.400}"
    );
    // The screenshot the README shows, written as an artefact of the run.
    let png = artefacts().join("coverage.png");
    let _ = std::fs::remove_file(&png);
    let shot = browse(
        &page,
        &format!("--screenshot={}", png.display()),
        &dir.join("profile"),
    );
    assert_eq!(shot.console, Vec::<String>::new());
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn autoscaler_templates_are_columns_of_their_own() {
    let dir = common::scratch_dir("html", "templates");
    let args = [
        "--nodes",
        "examples/autoscaling/nodes.yaml",
        "--node-templates",
        "examples/autoscaling/nodepools.yaml",
        "examples/autoscaling/daemonsets/",
    ];
    let (_, browsed, json) = in_browser("coverage", &args, &dir, "templates.html");
    let cells = cells(&browsed.dom);
    let mut checked = 0;
    for ds in json["daemonsets"].as_array().unwrap() {
        let key = format!(
            "{}/{}",
            ds["namespace"].as_str().unwrap(),
            ds["name"].as_str().unwrap()
        );
        for template in ds["templates"].as_array().unwrap() {
            let pool = format!(
                "{}/{}",
                template["kind"].as_str().unwrap(),
                template["name"].as_str().unwrap()
            );
            let state = match (
                template["targeted"].as_bool(),
                template["runnable"].as_bool(),
            ) {
                (Some(false), _) => "not-targeted",
                (_, Some(true)) => "runs",
                _ => "blocked",
            };
            let cell = &cells[&(key.clone(), pool.clone())];
            assert_eq!(cell.get("data-state"), state, "{key} {pool}");
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked} template cells");
    assert!(
        browsed
            .dom
            .contains("<th scope=\"col\" data-pool=\"NodePool/gpu\"")
    );
}

#[test]
fn what_if_taints_are_said_beside_the_cells() {
    let dir = common::scratch_dir("html", "what-if");
    let args = [
        "--nodes",
        "examples/nodes.yaml",
        "--what-if-taint",
        "maintenance=true:NoExecute@karpenter.sh/nodepool=general",
        "examples/daemonsets/",
    ];
    let (_, browsed, json) = in_browser("coverage", &args, &dir, "what-if.html");
    let mut said = 0;
    for (i, ds) in json["daemonsets"].as_array().unwrap().iter().enumerate() {
        let stops = names(&ds["whatIf"]["stopsOn"], None);
        let article = &browsed.dom[browsed
            .dom
            .find(&format!("<article id=\"ds-{i}\""))
            .unwrap()..];
        let article = &article[..article.find("</article>").unwrap()];
        let expected = match stops.first() {
            Some(first) if stops.len() == 1 => {
                format!("would stop running on 1 node (e.g. {first})")
            }
            Some(first) => format!("would stop running on {} nodes (e.g. {first})", stops.len()),
            None => "would stop running on no node".to_owned(),
        };
        assert!(article.contains(&expected), "{expected} in {article}");
        said += usize::from(!stops.is_empty());
    }
    assert!(said > 0, "the taint stops some DaemonSet somewhere");
}

#[test]
fn the_doctor_picture_agrees_with_doctor_json_and_draws_each_rollout() {
    let dir = common::scratch_dir("html", "doctor");
    let bundle = "examples/doctor/cluster.yaml";
    let (page, browsed, doctor) =
        in_browser("doctor", &["-A", "--snapshot", bundle], &dir, "doctor.html");
    // Which nodes each DaemonSet targets: coverage over the same bundle.
    let coverage = json_of(&["coverage", "-o", "json", "--nodes", bundle, bundle]);
    let cells = cells(&browsed.dom);
    let pools = pools_of(bundle);
    let mut expected: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
    let mut reasons_seen = Vec::new();
    for d in doctor["daemonsets"].as_array().unwrap() {
        let key = format!(
            "{}/{}",
            d["namespace"].as_str().unwrap(),
            d["name"].as_str().unwrap()
        );
        let targeted = coverage["daemonsets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                format!(
                    "{}/{}",
                    c["namespace"].as_str().unwrap(),
                    c["name"].as_str().unwrap()
                ) == key
            })
            .map(|c| names(&c["targeted"], None))
            .unwrap();
        // A node shows its first problem, in the order of the JSON.
        let mut first: HashMap<String, &str> = HashMap::new();
        for problem in d["problems"].as_array().unwrap() {
            for node in names(&problem["nodes"], None) {
                first
                    .entry(node)
                    .or_insert(problem["reason"].as_str().unwrap());
            }
        }
        for (node, pool) in &pools {
            let state = match first.get(node).copied() {
                Some("Unfit") => "unfit".to_owned(),
                Some("NoRoom") => "no-room".to_owned(),
                Some("UntoleratedTaint") => "blocked".to_owned(),
                Some("NotTargeted") => "not-targeted".to_owned(),
                Some(reason) => {
                    reasons_seen.push(reason);
                    "unhealthy".to_owned()
                }
                None if targeted.contains(node) => "runs".to_owned(),
                None => "not-targeted".to_owned(),
            };
            *expected
                .entry((key.clone(), pool.clone()))
                .or_default()
                .entry(state)
                .or_insert(0) += 1;
        }
        // The rollout bar says what the DaemonSet's status says.
        let row = &browsed.dom[browsed
            .dom
            .find(&format!("<tr data-daemonset=\"{key}\""))
            .unwrap()..];
        let bar = &elements(row, "div")[0];
        let status = &d["status"];
        assert_eq!(
            bar.get("data-rollout"),
            d["rollout"]["state"].as_str().unwrap()
        );
        assert_eq!(bar.get("data-desired"), status["desired"].to_string());
        assert_eq!(bar.get("data-updated"), status["updated"].to_string());
        assert_eq!(bar.get("data-ready"), status["ready"].to_string());
        let unavailable =
            (status["desired"].as_i64().unwrap() - status["available"].as_i64().unwrap()).max(0);
        assert_eq!(bar.get("data-unavailable"), unavailable.to_string());
    }
    assert_cells_match(&cells, &expected);
    assert!(!reasons_seen.is_empty(), "the bundle has unhealthy pods");
    // An unhealthy cell names its reason in text, and the rollback command is in the details.
    let unhealthy = cells
        .values()
        .find(|c| c.get("data-state") == "unhealthy" && !c.get("data-reason").is_empty())
        .unwrap();
    assert!(unhealthy.text().starts_with(unhealthy.get("data-reason")));
    for d in doctor["daemonsets"].as_array().unwrap() {
        if let Some(command) = d["rollback"]["command"].as_str() {
            assert!(browsed.dom.contains(command), "{command}");
        }
    }
    let png = artefacts().join("doctor.png");
    let _ = std::fs::remove_file(&png);
    browse(
        &page,
        &format!("--screenshot={}", png.display()),
        &dir.join("profile"),
    );
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
}

const HOSTILE_NAME: &str = "<script>alert(1)</script>\"'</table>";
const HOSTILE_POOL: &str = "</table><img src=x onerror=alert(2)>&amp;";

#[test]
fn names_and_labels_with_markup_render_as_text_and_run_nothing() {
    let dir = common::scratch_dir("html", "hostile");
    let quoted = |s: &str| serde_json::to_string(s).unwrap();
    std::fs::write(
        dir.join("nodes.yaml"),
        format!(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n    name: {}\n    labels:\n      karpenter.sh/nodepool: {}\n  spec:\n    taints:\n    - key: evil\n      value: {}\n      effect: NoSchedule\n- apiVersion: v1\n  kind: Node\n  metadata:\n    name: plain\n    labels:\n      karpenter.sh/nodepool: {}\n",
            quoted("<b>node</b>"),
            quoted(HOSTILE_POOL),
            quoted("\"><script>alert(3)</script>"),
            quoted(HOSTILE_POOL),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("ds.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n  selector:\n    matchLabels: {{app: x}}\n  template:\n    metadata:\n      labels: {{app: x}}\n    spec:\n      containers:\n      - name: c\n        image: {}\n",
            quoted(HOSTILE_NAME),
            quoted("'><svg onload=alert(4)>"),
            quoted("<script>alert(5)</script>"),
        ),
    )
    .unwrap();
    let nodes = dir.join("nodes.yaml");
    let ds = dir.join("ds.yaml");
    let args = [
        "coverage",
        "-o",
        "html",
        "--nodes",
        nodes.to_str().unwrap(),
        ds.to_str().unwrap(),
    ];
    let page = write_page(&args, &dir, "hostile.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for raw in ["<script", "<img", "<svg", "<b>node"] {
        assert!(!html.contains(raw), "{raw} unescaped in the page");
    }
    let browsed = browse(&page, "--dump-dom", &dir.join("profile"));
    assert_eq!(
        browsed.console,
        Vec::<String>::new(),
        "nothing ran, nothing was fetched"
    );
    for element in ["<script", "<img", "<svg", "<b>"] {
        assert!(
            !browsed.dom.contains(element),
            "the browser built a {element} element"
        );
    }
    let cells = cells(&browsed.dom);
    let daemonset = format!("'><svg onload=alert(4)>/{HOSTILE_NAME}");
    let cell = cells
        .get(&(daemonset.clone(), HOSTILE_POOL.to_owned()))
        .unwrap_or_else(|| panic!("no cell for the hostile names in {:?}", cells.keys()));
    // One node runs it, the other is blocked by the taint with the hostile value.
    assert_eq!(cell.get("data-state"), "mixed");
    assert_eq!(cell.get("data-nodes"), "2");
    assert!(
        cell.get("title")
            .contains("evil=\"><script>alert(3)</script>:NoSchedule")
    );
    // The table kept its shape: one row, one cell, the names as text in the row header.
    assert_eq!(cells.len(), 1);
    let header = elements(&browsed.dom, "a")
        .into_iter()
        .find(|a| a.get("href") == "#ds-0")
        .unwrap();
    assert_eq!(header.text(), daemonset);
}

/// 2,000 DaemonSets × 200 pools: the file grows linearly with the cells, the browser
/// builds every cell, and the time it takes is printed (BENCHMARKS.md), never asserted.
#[test]
fn a_page_of_2000_daemonsets_by_200_pools_stays_linear_and_is_measured() {
    let dir = common::scratch_dir("html", "large");
    let mut sizes = Vec::new();
    let mut pages = Vec::new();
    for (daemonsets, pools) in [(200usize, 20usize), (2_000, 200)] {
        let mut nodes = String::from("apiVersion: v1\nkind: List\nitems:\n");
        for pool in 0..pools {
            for n in 0..2 {
                nodes.push_str(&format!(
                    "- apiVersion: v1\n  kind: Node\n  metadata:\n    name: p{pool}-n{n}\n    labels:\n      karpenter.sh/nodepool: pool-{pool:03}\n      tier: t{}\n",
                    pool % 10
                ));
                if pool % 7 == 0 {
                    nodes.push_str("  spec:\n    taints:\n    - key: dedicated\n      value: infra\n      effect: NoSchedule\n");
                }
            }
        }
        let mut manifests = String::new();
        for i in 0..daemonsets {
            // Each selects one tier of pools: most cells are "not targeted", some blocked.
            manifests.push_str(&format!(
                "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent-{i:04}\n  namespace: ns-{}\nspec:\n  selector:\n    matchLabels: {{app: a{i}}}\n  template:\n    metadata:\n      labels: {{app: a{i}}}\n    spec:\n      nodeSelector: {{tier: t{}}}\n      containers:\n      - name: c\n        image: registry.example/agent:1\n",
                i % 50,
                i % 10
            ));
        }
        let nodes_file = dir.join(format!("nodes-{pools}.yaml"));
        let manifests_file = dir.join(format!("ds-{daemonsets}.yaml"));
        std::fs::write(&nodes_file, nodes).unwrap();
        std::fs::write(&manifests_file, manifests).unwrap();
        let page = write_page(
            &[
                "coverage",
                "-o",
                "html",
                "--nodes",
                nodes_file.to_str().unwrap(),
                manifests_file.to_str().unwrap(),
            ],
            &dir,
            &format!("large-{daemonsets}.html"),
        );
        let bytes = std::fs::metadata(&page).unwrap().len();
        sizes.push((daemonsets * pools, bytes));
        pages.push((daemonsets, pools, page));
    }
    // Linear: a cell of the large page costs no more bytes than one of the small page
    // (whose fixed part, the stylesheet and legend, weighs more per cell).
    let per_cell: Vec<f64> = sizes
        .iter()
        .map(|(cells, bytes)| *bytes as f64 / *cells as f64)
        .collect();
    assert!(
        per_cell[1] <= per_cell[0] * 1.05,
        "bytes per cell: {per_cell:?}"
    );
    let (daemonsets, pools, page) = pages.pop().unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html.matches("<td data-daemonset=").count(),
        daemonsets * pools
    );
    // Render time: a screenshot (parse, style, layout, paint) of the large page, less the
    // same of a page with one cell: the browser's own start-up.
    let (_, _, small) = &pages[0];
    let base = browse(
        small,
        &format!("--screenshot={}", dir.join("small.png").display()),
        &dir.join("profile"),
    );
    let large = browse(
        &page,
        &format!("--screenshot={}", dir.join("large.png").display()),
        &dir.join("profile"),
    );
    assert_eq!(large.console, Vec::<String>::new());
    let report = format!(
        "html: {daemonsets} DaemonSets x {pools} pools: {} bytes ({:.0} bytes per cell; {} cells {:.0}), screenshot {:.2} s, of a 4,000-cell page {:.2} s, difference {:.2} s\n",
        sizes[1].1,
        per_cell[1],
        sizes[0].0,
        per_cell[0],
        large.took.as_secs_f64(),
        base.took.as_secs_f64(),
        large.took.as_secs_f64() - base.took.as_secs_f64()
    );
    eprint!("{report}");
    std::fs::write(artefacts().join("large-page.txt"), report).unwrap();
}
