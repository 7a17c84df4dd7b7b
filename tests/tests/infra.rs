//! The deployment template (`infra/template.yaml`) and the sample events
//! (`tests/events/`), checked without AWS: least-privilege IAM, queues that outlast their
//! consumers, the tables' protections, and events that the functions' decoders accept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use serde_json::{Map, Value, json};

use inventory_base::location::S3Url;
use inventory_importer::pipeline::{CommitTask, ShardTask};
use inventory_runtime::events::{DeliveryEvent, classify, parse_notification};
use inventory_runtime::handlers::{DirectInvocation, decode_task, sqs_messages};

// ----- the template ------------------------------------------------------------------

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The name the local stack gives a resource, less the `inventory-import-` prefix: a
/// stack named `inventory-import` (samconfig.toml's default) has the same names.
fn default_name(logical_id: &str) -> String {
    let names = inventory_runtime::resources::ResourceNames::default();
    let name = match logical_id {
        "CatalogTable" => names.catalog_table,
        "JobsTable" => names.jobs_table,
        "StagingTable" => names.staging_table,
        "ManifestEventsQueue" => names.manifest_queue,
        "ShardTasksQueue" => names.shard_queue,
        "CommitTasksQueue" => names.commit_queue,
        other => panic!("no default name for {other}"),
    };
    name.strip_prefix("inventory-import-")
        .unwrap_or_else(|| panic!("{name} lacks the stack prefix"))
        .to_string()
}

/// The template as JSON, its short-form tags (`!Ref X`, `!GetAtt X.Arn`, `!Sub …`)
/// turned into the long forms (`{"Ref": "X"}`, `{"Fn::GetAtt": ["X", "Arn"]}`, …).
fn template() -> Value {
    let path = workspace().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let yaml: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    long_form(yaml)
}

fn long_form(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Yaml;
    match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(long_form).collect()),
        Yaml::Mapping(mapping) => Value::Object(
            mapping
                .into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s,
                        other => panic!("non-string key {other:?}"),
                    };
                    (key, long_form(v))
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = long_form(tagged.value);
            match name {
                "Ref" => json!({ "Ref": inner }),
                "Condition" => json!({ "Condition": inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (resource, attribute) = s
                            .split_once('.')
                            .unwrap_or_else(|| panic!("!GetAtt {s} names no attribute"));
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                "Sub" | "Join" | "Split" | "If" | "Select" | "Equals" | "Not" | "And" | "Or"
                | "FindInMap" | "Base64" | "Cidr" | "GetAZs" | "ImportValue" | "Length"
                | "ToJsonString" => json!({ format!("Fn::{name}"): inner }),
                other => panic!("unknown tag !{other}"),
            }
        }
    }
}

fn resources(template: &Value) -> &Map<String, Value> {
    template["Resources"].as_object().expect("Resources")
}

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    resources(template)
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.as_str(), r))
        .collect()
}

/// A function's properties with the template's `Globals.Function` merged in (a
/// function's own value wins; environment variables merge by name).
fn function_properties(template: &Value, id: &str) -> Map<String, Value> {
    let mut merged = template["Globals"]["Function"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let own = resources(template)[id]["Properties"]
        .as_object()
        .expect("Properties");
    for (key, value) in own {
        if key == "Environment" {
            let mut variables = merged
                .get("Environment")
                .and_then(|e| e["Variables"].as_object())
                .cloned()
                .unwrap_or_default();
            if let Some(own_variables) = value["Variables"].as_object() {
                variables.extend(own_variables.clone());
            }
            merged.insert(key.clone(), json!({ "Variables": variables }));
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    merged
}

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn number(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().expect("an integer"),
        Value::String(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{s:?} is not a number")),
        other => panic!("{other} is not a number"),
    }
}

/// The variables a `Fn::Sub` template string refers to (`${X}`, `${X.Attr}`; not the
/// escaped `${!X}`).
fn sub_variables(text: &str) -> Vec<String> {
    let mut variables = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').expect("unterminated ${ in Fn::Sub");
        let variable = &after[..end];
        if !variable.starts_with('!') {
            variables.push(variable.to_string());
        }
        rest = &after[end + 1..];
    }
    variables
}

/// Every name a value refers to: logical ids and parameters (`Ref`, `Fn::GetAtt`,
/// `Fn::Sub` variables not defined by the Sub itself) and pseudo parameters (`AWS::…`).
fn references(value: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    collect_references(value, &mut names);
    names
}

fn collect_references(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, names)),
        Value::Object(map) if map.len() == 1 => {
            let (key, inner) = map.iter().next().expect("one entry");
            match (key.as_str(), inner) {
                ("Ref", Value::String(name)) => {
                    names.insert(name.clone());
                }
                ("Fn::GetAtt", Value::Array(parts)) => {
                    names.insert(parts[0].as_str().expect("GetAtt resource").to_string());
                }
                ("Fn::Sub", Value::String(text)) => {
                    for variable in sub_variables(text) {
                        names.insert(variable.split('.').next().unwrap_or_default().into());
                    }
                }
                ("Fn::Sub", Value::Array(parts)) => {
                    let defined = parts[1].as_object().cloned().unwrap_or_default();
                    for variable in sub_variables(parts[0].as_str().expect("Sub string")) {
                        let name = variable.split('.').next().unwrap_or_default();
                        if !defined.contains_key(name) {
                            names.insert(name.to_string());
                        }
                    }
                    for value in defined.values() {
                        collect_references(value, names);
                    }
                }
                _ => collect_references(inner, names),
            }
        }
        Value::Object(map) => map.values().for_each(|v| collect_references(v, names)),
        _ => {}
    }
}

/// Every `Fn::GetAtt` in a value, `${X.Attr}` in a Sub included, as (resource, attribute).
fn get_atts(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| get_atts(v, out)),
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Fn::GetAtt", Value::Array(parts)) => out.push((
                        parts[0].as_str().expect("GetAtt resource").into(),
                        parts[1].as_str().expect("GetAtt attribute").into(),
                    )),
                    ("Fn::Sub", _) => {
                        let (text, defined) = match inner {
                            Value::String(text) => (text.as_str(), Map::new()),
                            Value::Array(parts) => (
                                parts[0].as_str().expect("Sub string"),
                                parts[1].as_object().cloned().unwrap_or_default(),
                            ),
                            other => panic!("Fn::Sub of {other}"),
                        };
                        for variable in sub_variables(text) {
                            if let Some((resource, attribute)) = variable.split_once('.')
                                && !defined.contains_key(resource)
                                && !resource.starts_with("AWS::")
                            {
                                out.push((resource.into(), attribute.into()));
                            }
                        }
                        defined.values().for_each(|v| get_atts(v, out));
                    }
                    _ => get_atts(inner, out),
                }
            }
        }
        _ => {}
    }
}

/// A statement's `Resource` as the values it may take: list items, and both branches of
/// an `Fn::If`. An element that is itself a computed list (`Fn::Split`) stays whole.
fn resource_elements(resource: &Value) -> Vec<&Value> {
    match resource {
        Value::Array(items) => items.iter().flat_map(resource_elements).collect(),
        Value::Object(map) if map.contains_key("Fn::If") => {
            let branches = map["Fn::If"].as_array().expect("Fn::If [condition, a, b]");
            branches[1..].iter().flat_map(resource_elements).collect()
        }
        other => vec![other],
    }
}

/// Every string written in a value, intrinsic function arguments included.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

struct Statement {
    /// The function or IAM resource the statement belongs to.
    owner: String,
    body: Value,
}

impl Statement {
    fn name(&self) -> String {
        format!(
            "{} statement {}",
            self.owner,
            self.body["Sid"].as_str().unwrap_or("(no Sid)")
        )
    }

    fn actions(&self) -> Vec<String> {
        as_list(&self.body["Action"])
            .into_iter()
            .map(|a| a.as_str().expect("actions are strings").to_string())
            .collect()
    }

    fn resources(&self) -> Vec<&Value> {
        resource_elements(&self.body["Resource"])
    }
}

/// Statements of a policy document's `Statement`, both branches of an `Fn::If` included.
fn document_statements(owner: &str, document: &Value, out: &mut Vec<Statement>) {
    fn flatten(owner: &str, value: &Value, out: &mut Vec<Statement>) {
        match value {
            Value::Array(items) => items.iter().for_each(|v| flatten(owner, v, out)),
            Value::Object(map) if map.contains_key("Fn::If") => {
                let branches = map["Fn::If"].as_array().expect("Fn::If");
                branches[1..].iter().for_each(|v| flatten(owner, v, out));
            }
            Value::Object(map) if map.contains_key("Ref") => {
                assert_eq!(map["Ref"], "AWS::NoValue", "{owner}: statement {value}");
            }
            Value::Object(_) => out.push(Statement {
                owner: owner.to_string(),
                body: value.clone(),
            }),
            other => panic!("{owner}: a statement is not an object: {other}"),
        }
    }
    assert!(
        document.get("Statement").is_some(),
        "{owner}: a policy document without statements: {document}"
    );
    flatten(owner, &document["Statement"], out);
}

/// Every IAM permission statement: the functions' `Policies` (inline documents only) and
/// the policies of every `AWS::IAM::*` resource.
fn iam_statements(template: &Value) -> Vec<Statement> {
    let mut statements = Vec::new();
    for (id, resource) in resources(template) {
        let kind = resource["Type"].as_str().unwrap_or_default();
        let properties = &resource["Properties"];
        match kind {
            "AWS::Serverless::Function" => {
                for policy in as_list(&properties["Policies"]) {
                    assert!(
                        policy.get("Statement").is_some(),
                        "{id}: Policies holds {policy}: only inline statements are allowed \
                         (no managed policies or SAM policy templates)"
                    );
                    document_statements(id, policy, &mut statements);
                }
            }
            "AWS::IAM::Role" => {
                assert!(
                    properties.get("ManagedPolicyArns").is_none(),
                    "{id}: managed policies attached"
                );
                for policy in as_list(&properties["Policies"]) {
                    document_statements(id, &policy["PolicyDocument"], &mut statements);
                }
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
                document_statements(id, &properties["PolicyDocument"], &mut statements);
            }
            other if other.starts_with("AWS::IAM::") => {
                panic!("{id}: IAM resource type {other} is not checked by this test")
            }
            _ => {}
        }
    }
    statements
}

fn functions(template: &Value) -> Vec<&str> {
    of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

const SOURCE_READS: [&str; 4] = [
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "s3:ListBucketVersions",
];

const BUCKET_PARAMETERS: [&str; 3] = [
    "InventoryBucketName",
    "SourceBucketNames",
    "CatalogBucketName",
];

/// Actions that write, delete or change the access, tags or lifecycle of S3 data.
fn is_s3_write(action: &str) -> bool {
    let Some(name) = action.strip_prefix("s3:") else {
        return false;
    };
    let name = name.to_ascii_lowercase();
    name.starts_with("put")
        || name.starts_with("delete")
        || name.contains("acl")
        || name.contains("tagging")
        || name.contains("lifecycle")
}

// ----- IAM ---------------------------------------------------------------------------

#[test]
fn iam_statements_name_their_actions_and_resources() {
    let template = template();
    let statements = iam_statements(&template);
    assert!(statements.len() >= 10, "too few statements found");
    for statement in &statements {
        let name = statement.name();
        let body = &statement.body;
        assert_eq!(body["Effect"], "Allow", "{name}");
        for forbidden in ["NotAction", "NotResource", "NotPrincipal", "Principal"] {
            assert!(body.get(forbidden).is_none(), "{name}: {forbidden}");
        }
        let actions = statement.actions();
        assert!(!actions.is_empty(), "{name}: no Action");
        let services: BTreeSet<&str> = actions
            .iter()
            .map(|a| {
                let (service, operation) = a
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{name}: action {a:?} is not service:Operation"));
                assert!(!operation.is_empty(), "{name}: action {a:?}");
                service
            })
            .collect();
        assert_eq!(services.len(), 1, "{name} mixes services: {actions:?}");
        for action in &actions {
            assert!(!action.contains('*'), "{name}: wildcard action {action}");
        }
        let elements = statement.resources();
        assert!(!elements.is_empty(), "{name}: no Resource");
        for element in elements {
            assert_ne!(element, &json!("*"), "{name}: Resource \"*\"");
            let mut texts = Vec::new();
            strings(element, &mut texts);
            for text in texts {
                // The only wildcard allowed is the one for a bucket's objects: `bucket/*`.
                for (at, _) in text.match_indices('*') {
                    assert!(
                        at > 0 && text.as_bytes()[at - 1] == b'/',
                        "{name}: wildcard in resource {text:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn s3_statements_name_one_bucket_each() {
    let template = template();
    for statement in iam_statements(&template) {
        if !statement.actions().iter().any(|a| a.starts_with("s3:")) {
            continue;
        }
        for element in statement.resources() {
            let buckets: Vec<String> = references(element)
                .into_iter()
                .filter(|r| !r.starts_with("AWS::"))
                .collect();
            assert_eq!(
                buckets.len(),
                1,
                "{}: resource {element} must name exactly one bucket parameter",
                statement.name()
            );
            assert!(
                BUCKET_PARAMETERS.contains(&buckets[0].as_str()),
                "{}: resource {element} names {}, not a bucket parameter",
                statement.name(),
                buckets[0]
            );
        }
    }
}

#[test]
fn source_buckets_are_only_read() {
    let template = template();
    let mut checked = 0;
    for statement in iam_statements(&template) {
        let on_sources = statement
            .resources()
            .iter()
            .any(|element| references(element).contains("SourceBucketNames"));
        if !on_sources {
            continue;
        }
        checked += 1;
        for action in statement.actions() {
            assert!(
                SOURCE_READS.contains(&action.as_str()),
                "{}: {action} on a source bucket",
                statement.name()
            );
        }
    }
    assert!(checked > 0, "no statement refers to SourceBucketNames");
    // Of the functions, only the S3 endpoint reads source objects (as the CLI's `cat`
    // and `serve` do on a host).
    for function in functions(&template) {
        let policies = &resources(&template)[function]["Properties"]["Policies"];
        assert_eq!(
            references(policies).contains("SourceBucketNames"),
            function == "ApiFunction",
            "{function}: access to the source buckets"
        );
    }
}

#[test]
fn s3_writes_only_to_the_catalog_bucket() {
    let template = template();
    let mut writes = 0;
    for statement in iam_statements(&template) {
        let written: Vec<String> = statement
            .actions()
            .into_iter()
            .filter(|a| is_s3_write(a))
            .collect();
        if written.is_empty() {
            continue;
        }
        writes += 1;
        for element in statement.resources() {
            let named = references(element);
            assert!(
                named.contains("CatalogBucketName")
                    && !named.contains("InventoryBucketName")
                    && !named.contains("SourceBucketNames"),
                "{}: {written:?} on {element}, which is not the catalog bucket",
                statement.name()
            );
        }
    }
    assert!(
        writes > 0,
        "the committer writes trees: some statement must"
    );
    assert!(is_s3_write("s3:PutObjectAcl") && is_s3_write("s3:DeleteObjectVersion"));
    assert!(is_s3_write("s3:PutBucketTagging") && is_s3_write("s3:PutLifecycleConfiguration"));
    assert!(!is_s3_write("s3:GetObject") && !is_s3_write("s3:ListBucket"));
}

#[test]
fn table_and_queue_statements_name_resources_of_this_template() {
    let template = template();
    let defined = resources(&template);
    let mut checked = 0;
    for statement in iam_statements(&template) {
        let actions = statement.actions();
        let expected_type = if actions.iter().all(|a| a.starts_with("dynamodb:")) {
            "AWS::DynamoDB::Table"
        } else if actions.iter().all(|a| a.starts_with("sqs:")) {
            "AWS::SQS::Queue"
        } else {
            continue;
        };
        checked += 1;
        for element in statement.resources() {
            assert!(
                element.is_object(),
                "{}: literal resource {element}: use !GetAtt / !Ref / !Sub of a logical id",
                statement.name()
            );
            let named = references(element);
            let logical: Vec<&String> = named.iter().filter(|n| !n.starts_with("AWS::")).collect();
            assert!(
                !logical.is_empty(),
                "{}: resource {element} names no resource of the template",
                statement.name()
            );
            for id in logical {
                let resource = defined.get(id.as_str()).unwrap_or_else(|| {
                    panic!(
                        "{}: {id} is not a resource of the template",
                        statement.name()
                    )
                });
                assert_eq!(
                    resource["Type"],
                    expected_type,
                    "{}: {id} is not a {expected_type}",
                    statement.name()
                );
            }
        }
    }
    assert!(
        checked >= 9,
        "expected table and queue statements for each function"
    );
}

/// What one function may do to which table or queue, from its own policy statements.
fn grants(template: &Value, function: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for statement in iam_statements(template) {
        if statement.owner != function {
            continue;
        }
        for element in statement.resources() {
            for id in references(element) {
                grants.entry(id).or_default().extend(statement.actions());
            }
        }
    }
    grants
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ----- functions, queues and tables ----------------------------------------------------

#[test]
fn functions_build_their_binaries_with_their_sizes() {
    let template = template();
    let expected = [
        ("TriggerFunction", "trigger", 512, 60, None),
        ("WorkerFunction", "worker", 2048, 900, Some(4096)),
        ("CommitterFunction", "committer", 3008, 900, Some(10240)),
        ("ApiFunction", "api", 1024, 300, None),
    ];
    assert_eq!(functions(&template).len(), expected.len());
    assert_eq!(template["Transform"], "AWS::Serverless-2016-10-31");
    for (id, binary, memory, timeout, storage) in expected {
        let resource = &resources(&template)[id];
        let metadata = &resource["Metadata"];
        assert_eq!(metadata["BuildMethod"], "rust-cargolambda", "{id}");
        assert_eq!(metadata["BuildProperties"]["Binary"], binary, "{id}");
        let main = workspace().join(format!("functions/{binary}/src/main.rs"));
        assert!(main.exists(), "{id}: no {}", main.display());

        let properties = function_properties(&template, id);
        assert_eq!(properties["Runtime"], "provided.al2023", "{id}");
        assert_eq!(properties["Handler"], "bootstrap", "{id}");
        assert_eq!(
            properties["Architectures"],
            json!([{ "Ref": "Architecture" }]),
            "{id}"
        );
        let code = properties["CodeUri"].as_str().expect("CodeUri");
        let root = workspace().join("infra").join(code);
        let manifest =
            std::fs::read_to_string(root.join("Cargo.toml")).expect("CodeUri/Cargo.toml");
        assert!(
            manifest.contains("[workspace]"),
            "{id}: CodeUri is not the workspace root"
        );
        assert_eq!(number(&properties["MemorySize"]), memory, "{id}");
        assert_eq!(number(&properties["Timeout"]), timeout, "{id}");
        match storage {
            Some(size) => assert_eq!(number(&properties["EphemeralStorage"]["Size"]), size),
            None => assert!(properties.get("EphemeralStorage").is_none(), "{id}"),
        }
        // SQS `Events` would make SAM attach AWSLambdaSQSQueueExecutionRole, which
        // receives and deletes messages of every queue (Resource "*").
        for (name, event) in properties
            .get("Events")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            assert_ne!(event["Type"], "SQS", "{id}: SQS event {name}");
        }
        // SAM makes each function's role from its own Policies; the queues' ScalingConfig
        // bounds concurrency without reserving any.
        for unexpected in ["Role", "ReservedConcurrentExecutions"] {
            assert!(properties.get(unexpected).is_none(), "{id}: {unexpected}");
        }
    }
    let architecture = &template["Parameters"]["Architecture"];
    assert_eq!(architecture["Default"], "arm64");
    assert_eq!(architecture["AllowedValues"], json!(["arm64", "x86_64"]));
    let workers = &template["Parameters"]["WorkerMaxConcurrency"];
    assert_eq!(workers["Type"], "Number");
    assert_eq!(
        (
            number(&workers["Default"]),
            number(&workers["MinValue"]),
            number(&workers["MaxValue"])
        ),
        (50, 2, 1000)
    );
    assert_eq!(
        template["Parameters"]["SourceBucketNames"]["Type"],
        "CommaDelimitedList"
    );
}

/// (function, queue, batch size, maximum concurrency) of each event source mapping.
fn consumers(template: &Value) -> Vec<(String, String, i64, Value)> {
    of_type(template, "AWS::Lambda::EventSourceMapping")
        .into_iter()
        .map(|(id, mapping)| {
            let properties = &mapping["Properties"];
            let function = properties["FunctionName"]["Ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: FunctionName is not a !Ref"));
            let queue = properties["EventSourceArn"]["Fn::GetAtt"]
                .as_array()
                .filter(|parts| parts[1] == "Arn")
                .and_then(|parts| parts[0].as_str())
                .unwrap_or_else(|| panic!("{id}: EventSourceArn is not a !GetAtt X.Arn"));
            assert_eq!(
                properties["FunctionResponseTypes"],
                json!(["ReportBatchItemFailures"]),
                "{id}: only failed messages are retried"
            );
            let concurrency = properties["ScalingConfig"]["MaximumConcurrency"].clone();
            if let Some(n) = concurrency.as_i64() {
                assert!(
                    n >= 2,
                    "{id}: ScalingConfig.MaximumConcurrency is at least 2"
                );
            }
            (
                function.to_string(),
                queue.to_string(),
                number(&properties["BatchSize"]),
                concurrency,
            )
        })
        .collect()
}

#[test]
fn each_queue_feeds_its_function() {
    let template = template();
    let mut found = consumers(&template);
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        found,
        vec![
            (
                "CommitterFunction".into(),
                "CommitTasksQueue".into(),
                1,
                json!(2)
            ),
            // Tasks the queues gave up on: the committer fails their jobs.
            (
                "CommitterFunction".into(),
                "CommitTasksDeadLetterQueue".into(),
                1,
                json!(2)
            ),
            (
                "CommitterFunction".into(),
                "ShardTasksDeadLetterQueue".into(),
                1,
                json!(2)
            ),
            (
                "TriggerFunction".into(),
                "ManifestEventsQueue".into(),
                10,
                json!(2)
            ),
            (
                "WorkerFunction".into(),
                "ShardTasksQueue".into(),
                1,
                json!({ "Ref": "WorkerMaxConcurrency" })
            ),
        ]
    );
    // A function consumes only the queues mapped to it.
    for function in functions(&template) {
        let own: BTreeSet<&str> = found
            .iter()
            .filter(|(consumer, ..)| consumer == function)
            .map(|(_, queue, ..)| queue.as_str())
            .collect();
        for (id, actions) in grants(&template, function) {
            if actions.contains("sqs:ReceiveMessage") || actions.contains("sqs:DeleteMessage") {
                assert!(own.contains(id.as_str()), "{function} may consume {id}");
            }
        }
    }
}

#[test]
fn queues_redrive_after_three_receives_and_outlast_their_consumers() {
    let template = template();
    let defined = resources(&template);
    let mut dead_letter_queues = BTreeSet::new();
    for (function, queue, _, _) in consumers(&template) {
        let properties = &defined[&queue]["Properties"];
        let timeout = number(&function_properties(&template, &function)["Timeout"]);
        let visibility = number(&properties["VisibilityTimeout"]);
        assert!(
            visibility > timeout,
            "{queue}: visibility timeout {visibility} s is not longer than {function}'s {timeout} s"
        );
        if queue.ends_with("DeadLetterQueue") {
            // A dead-letter queue read by the committer: where messages end.
            assert_eq!(properties["RedrivePolicy"], Value::Null, "{queue}");
            continue;
        }
        assert_eq!(
            properties["QueueName"],
            json!({ "Fn::Sub": format!("${{AWS::StackName}}-{}", default_name(&queue)) }),
            "{queue}: named like the local stack's queue"
        );
        let redrive = &properties["RedrivePolicy"];
        assert_eq!(
            number(&redrive["maxReceiveCount"]),
            i64::from(inventory_runtime::queues::MAX_RECEIVES),
            "{queue}: the worker fails the job on the last receive the queue allows"
        );
        assert_eq!(number(&redrive["maxReceiveCount"]), 3);
        let target = redrive["deadLetterTargetArn"]["Fn::GetAtt"]
            .as_array()
            .filter(|parts| parts[1] == "Arn")
            .and_then(|parts| parts[0].as_str())
            .unwrap_or_else(|| panic!("{queue}: deadLetterTargetArn is not a !GetAtt X.Arn"));
        assert!(target.ends_with("DeadLetterQueue"), "{queue}: {target}");
        let dead_letter = &defined[target];
        assert_eq!(dead_letter["Type"], "AWS::SQS::Queue", "{target}");
        assert_eq!(
            number(&dead_letter["Properties"]["MessageRetentionPeriod"]),
            1_209_600,
            "{target}: kept 14 days"
        );
        // A task redriven from the dead-letter queue on its last day still finds its
        // job's staged batches.
        let retention = number(&dead_letter["Properties"]["MessageRetentionPeriod"]);
        assert!(
            inventory_importer::staging::TTL_SECONDS >= retention + 24 * 3600,
            "{target}: staged items expire after {} s, messages after {retention} s",
            inventory_importer::staging::TTL_SECONDS
        );
        let dead_letter_name = json!({ "Fn::Sub": format!(
            "${{AWS::StackName}}-{}",
            inventory_runtime::queues::dead_letter(&default_name(&queue))
        ) });
        assert_eq!(
            dead_letter["Properties"]["QueueName"], dead_letter_name,
            "{target}: the name the committer recognises"
        );
        dead_letter_queues.insert(target.to_string());
    }
    let visibility = |queue: &str| number(&defined[queue]["Properties"]["VisibilityTimeout"]);
    assert_eq!(
        [
            visibility("ManifestEventsQueue"),
            visibility("ShardTasksQueue"),
            visibility("CommitTasksQueue")
        ],
        [120, 960, 960]
    );
    // Every queue is a consumed queue or one of their dead-letter queues.
    let consumed: BTreeSet<String> = consumers(&template).into_iter().map(|c| c.1).collect();
    for (id, _) in of_type(&template, "AWS::SQS::Queue") {
        assert!(
            consumed.contains(id) || dead_letter_queues.contains(id),
            "queue {id} is neither consumed nor a dead-letter queue"
        );
    }
    assert_eq!(dead_letter_queues.len(), 3);
}

#[test]
fn every_dead_letter_queue_raises_an_alarm_and_every_function_keeps_its_logs_for_a_while() {
    let template = template();
    let defined = resources(&template);
    let mut watched = BTreeSet::new();
    for (id, alarm) in of_type(&template, "AWS::CloudWatch::Alarm") {
        let properties = &alarm["Properties"];
        assert_eq!(properties["Namespace"], "AWS/SQS", "{id}");
        assert_eq!(
            properties["MetricName"], "ApproximateNumberOfMessagesVisible",
            "{id}"
        );
        assert_eq!(
            (
                number(&properties["Threshold"]),
                properties["ComparisonOperator"].as_str()
            ),
            (0, Some("GreaterThanThreshold")),
            "{id}: one message is enough"
        );
        assert_eq!(properties["TreatMissingData"], "notBreaching", "{id}");
        assert_eq!(
            properties["AlarmActions"],
            json!({ "Fn::If": ["HasAlarmTopic", [{ "Ref": "AlarmTopicArn" }], { "Ref": "AWS::NoValue" }] }),
            "{id}"
        );
        let queue = properties["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: its dimension is not a queue's name"));
        assert_eq!(properties["Dimensions"][0]["Name"], "QueueName", "{id}");
        watched.insert(queue.to_string());
    }
    let dead_letter_queues: BTreeSet<String> = of_type(&template, "AWS::SQS::Queue")
        .into_iter()
        .filter(|(id, _)| id.ends_with("DeadLetterQueue"))
        .map(|(id, _)| id.to_string())
        .collect();
    assert_eq!(dead_letter_queues.len(), 3);
    assert_eq!(watched, dead_letter_queues);

    let parameters = &template["Parameters"];
    assert_eq!(parameters["LogRetentionDays"]["Default"], 30);
    for function in functions(&template) {
        let properties = function_properties(&template, function);
        let group = properties["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{function}: LoggingConfig.LogGroup is not a !Ref"));
        let group = &defined[group];
        assert_eq!(group["Type"], "AWS::Logs::LogGroup", "{function}");
        assert_eq!(
            group["Properties"]["RetentionInDays"],
            json!({ "Ref": "LogRetentionDays" }),
            "{function}"
        );
    }
}

#[test]
fn tables_keep_what_they_must() {
    let template = template();
    let tables = of_type(&template, "AWS::DynamoDB::Table");
    let ids: BTreeSet<&str> = tables.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids,
        BTreeSet::from(["CatalogTable", "JobsTable", "StagingTable"])
    );
    for (id, table) in &tables {
        let properties = &table["Properties"];
        assert_eq!(properties["BillingMode"], "PAY_PER_REQUEST", "{id}");
        assert_eq!(
            properties["KeySchema"],
            json!([
                { "AttributeName": "pk", "KeyType": "HASH" },
                { "AttributeName": "sk", "KeyType": "RANGE" }
            ]),
            "{id}"
        );
        assert_eq!(
            properties["AttributeDefinitions"],
            json!([
                { "AttributeName": "pk", "AttributeType": "S" },
                { "AttributeName": "sk", "AttributeType": "S" }
            ]),
            "{id}"
        );
        assert_eq!(
            properties["TableName"],
            json!({ "Fn::Sub": format!("${{AWS::StackName}}-{}", default_name(id)) }),
            "{id}: named like the local stack's table"
        );
    }
    let staging = &resources(&template)["StagingTable"]["Properties"];
    assert_eq!(
        staging["TimeToLiveSpecification"],
        json!({ "AttributeName": "expires_at", "Enabled": true })
    );
    let catalog = &resources(&template)["CatalogTable"];
    assert_eq!(
        catalog["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(catalog["DeletionPolicy"], "Retain");
    assert_eq!(catalog["UpdateReplacePolicy"], "Retain");
}

#[test]
fn functions_find_every_resource_by_environment() {
    let template = template();
    let expected = json!({
        "CATALOG_TABLE": { "Ref": "CatalogTable" },
        "JOBS_TABLE": { "Ref": "JobsTable" },
        "STAGING_TABLE": { "Ref": "StagingTable" },
        "MANIFEST_QUEUE": { "Fn::GetAtt": ["ManifestEventsQueue", "QueueName"] },
        "SHARD_QUEUE": { "Fn::GetAtt": ["ShardTasksQueue", "QueueName"] },
        "COMMIT_QUEUE": { "Fn::GetAtt": ["CommitTasksQueue", "QueueName"] },
        "RUST_LOG": "info",
    });
    for function in functions(&template) {
        let properties = function_properties(&template, function);
        let mut expected = expected.clone();
        if function == "ApiFunction" {
            // The key that seals issued secrets.
            expected["SECRETS_KMS_KEY_ID"] = json!({ "Fn::GetAtt": ["SecretsKey", "Arn"] });
        }
        if function == "TriggerFunction" || function == "ApiFunction" {
            // Direct dry runs (and the JSON API's) of larger deliveries go to the workers.
            expected["DRY_RUN_IN_PROCESS_BYTES"] = json!(64 << 20);
            let memory_mb = properties["MemorySize"].as_u64().unwrap();
            assert!(
                64 << 20 <= (memory_mb << 20) / 4,
                "{function}: {memory_mb} MB"
            );
        }
        assert_eq!(
            properties["Environment"]["Variables"], expected,
            "{function}"
        );
    }
    // The queue each variable names is one its consumer reads.
    let consumed: BTreeSet<(String, String)> = consumers(&template)
        .into_iter()
        .map(|(function, queue, _, _)| (function, queue))
        .collect();
    for (function, queue) in [
        ("TriggerFunction", "ManifestEventsQueue"),
        ("WorkerFunction", "ShardTasksQueue"),
        ("CommitterFunction", "CommitTasksQueue"),
    ] {
        assert!(
            consumed.contains(&(function.to_string(), queue.to_string())),
            "{function} reads {queue}"
        );
    }
}

#[test]
fn every_get_att_names_an_attribute_of_its_resource() {
    let template = template();
    let mut found = Vec::new();
    get_atts(&template, &mut found);
    assert!(found.len() > 20);
    for (resource, attribute) in found {
        // SAM makes a function's URL, `<function>Url`, from its FunctionUrlConfig.
        let url_of = resource
            .strip_suffix("Url")
            .and_then(|function| resources(&template).get(function))
            .filter(|function| function["Properties"].get("FunctionUrlConfig").is_some());
        let kind =
            match url_of {
                Some(_) => "AWS::Lambda::Url",
                None => resources(&template)
                    .get(&resource)
                    .unwrap_or_else(|| panic!("!GetAtt {resource}.{attribute}: no such resource"))
                    ["Type"]
                    .as_str()
                    .unwrap_or_default(),
            };
        let known: &[&str] = match kind {
            "AWS::SQS::Queue" => &["Arn", "QueueName", "QueueUrl"],
            "AWS::DynamoDB::Table" => &["Arn", "StreamArn"],
            "AWS::Serverless::Function" => &["Arn"],
            "AWS::Lambda::Url" => &["FunctionUrl", "FunctionArn"],
            "AWS::KMS::Key" => &["Arn", "KeyId"],
            other => panic!("!GetAtt {resource}.{attribute} on a {other}"),
        };
        assert!(
            known.contains(&attribute.as_str()),
            "!GetAtt {resource}.{attribute}"
        );
    }
}

#[test]
fn only_the_inventory_bucket_may_notify_the_manifest_queue() {
    let template = template();
    let policies = of_type(&template, "AWS::SQS::QueuePolicy");
    assert_eq!(policies.len(), 1);
    let properties = &policies[0].1["Properties"];
    assert_eq!(
        properties["Queues"],
        json!([{ "Ref": "ManifestEventsQueue" }])
    );
    let statements = properties["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements");
    assert_eq!(statements.len(), 1);
    let statement = &statements[0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(
        statement["Principal"],
        json!({ "Service": "s3.amazonaws.com" })
    );
    assert_eq!(statement["Action"], "sqs:SendMessage");
    assert_eq!(
        statement["Resource"],
        json!({ "Fn::GetAtt": ["ManifestEventsQueue", "Arn"] })
    );
    assert_eq!(
        statement["Condition"],
        json!({
            "ArnEquals": {
                "aws:SourceArn": { "Fn::Sub": "arn:${AWS::Partition}:s3:::${InventoryBucketName}" }
            },
            "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } }
        })
    );
}

#[test]
fn notification_command_notifies_the_manifest_queue_of_both_manifest_files() {
    let template = template();
    let command = template["Outputs"]["NotificationCommand"]["Value"]["Fn::Sub"]
        .as_str()
        .expect("NotificationCommand is a !Sub string");
    assert!(!command.contains('\n'), "one line: {command:?}");
    let prefix = "aws s3api put-bucket-notification-configuration --bucket ${InventoryBucketName} \
                  --notification-configuration '";
    assert!(command.starts_with(prefix), "{command}");
    assert!(command.ends_with('\''), "{command}");
    let document = &command[prefix.len()..command.len() - 1];
    assert!(
        !document.contains('\''),
        "the JSON is quoted once: {document}"
    );
    let arn = "arn:aws:sqs:us-east-1:123456789012:inventory-import-ManifestEventsQueue-X";
    let resolved = document.replace("${ManifestEventsQueue.Arn}", arn);
    assert!(!resolved.contains("${"), "{resolved}");
    let configuration: Value = serde_json::from_str(&resolved).expect("the configuration is JSON");
    let queues = configuration["QueueConfigurations"]
        .as_array()
        .expect("QueueConfigurations");
    assert_eq!(queues.len(), 2);
    assert_eq!(configuration.as_object().map(Map::len), Some(1));
    let mut suffixes = BTreeSet::new();
    for queue in queues {
        assert_eq!(queue["QueueArn"], arn);
        assert_eq!(queue["Events"], json!(["s3:ObjectCreated:*"]));
        let rules = queue["Filter"]["Key"]["FilterRules"]
            .as_array()
            .expect("FilterRules");
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0]["Name"], "suffix");
        let suffix = rules[0]["Value"].as_str().expect("suffix");
        assert_eq!(queue["Id"], format!("inventory-import-{suffix}"));
        suffixes.insert(suffix.to_string());
        // The trigger acts on both files of a delivery.
        let url = S3Url::new(
            "inventory-destination",
            format!("inv/src/daily/2026-11-25T01-00Z/{suffix}"),
        );
        assert!(
            classify(url, "ObjectCreated:Put").manifest().is_some(),
            "{suffix}"
        );
    }
    assert_eq!(suffixes, set(&["manifest.checksum", "manifest.json"]));
}

#[test]
fn outputs_give_what_the_cli_and_operators_need() {
    let template = template();
    let outputs = template["Outputs"].as_object().expect("Outputs");
    let expected = [
        ("ManifestQueueUrl", json!({ "Ref": "ManifestEventsQueue" })),
        ("ShardQueueUrl", json!({ "Ref": "ShardTasksQueue" })),
        ("CommitQueueUrl", json!({ "Ref": "CommitTasksQueue" })),
        ("CatalogTableName", json!({ "Ref": "CatalogTable" })),
        ("JobsTableName", json!({ "Ref": "JobsTable" })),
        ("StagingTableName", json!({ "Ref": "StagingTable" })),
        ("TriggerFunctionName", json!({ "Ref": "TriggerFunction" })),
        ("WorkerFunctionName", json!({ "Ref": "WorkerFunction" })),
        (
            "CommitterFunctionName",
            json!({ "Ref": "CommitterFunction" }),
        ),
        ("ApiFunctionName", json!({ "Ref": "ApiFunction" })),
        (
            "ApiUrl",
            json!({ "Fn::GetAtt": ["ApiFunctionUrl", "FunctionUrl"] }),
        ),
        (
            "SecretsKeyArn",
            json!({ "Fn::GetAtt": ["SecretsKey", "Arn"] }),
        ),
    ];
    for (name, value) in expected {
        assert_eq!(outputs[name]["Value"], value, "{name}");
    }
    assert!(outputs.contains_key("NotificationCommand"));
}

#[test]
fn sam_config_deploys_the_default_stack() {
    let text =
        std::fs::read_to_string(workspace().join("infra/samconfig.toml")).expect("samconfig");
    for line in [
        "[default.build.parameters]",
        "beta_features = true",
        "[default.deploy.parameters]",
        "stack_name = \"inventory-import\"",
        "capabilities = \"CAPABILITY_IAM\"",
        "resolve_s3 = true",
        "confirm_changeset = true",
        "region = \"us-east-1\"",
    ] {
        assert!(
            text.lines().any(|l| l.trim() == line),
            "samconfig.toml: no {line:?}"
        );
    }
}

// ----- sample events -----------------------------------------------------------------

fn events_dir() -> PathBuf {
    workspace().join("tests/events")
}

fn event(name: &str) -> Value {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The one message of an SQS event file, through the functions' own decoding.
fn sqs_body(name: &str) -> String {
    let sqs: aws_lambda_events::sqs::SqsEvent =
        serde_json::from_value(event(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let messages = sqs_messages(sqs);
    assert_eq!(messages.len(), 1, "{name}");
    assert_eq!(messages[0].receive_count, 1, "{name}");
    messages[0].body.clone()
}

const MANIFEST: &str =
    "s3://inventory-destination/inventories/demo-photos/daily/2026-11-25T01-00Z/manifest.json";

#[test]
fn every_event_file_is_json() {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(events_dir()).expect("tests/events") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.ends_with(".json"), "{name} is not a .json file");
        event(&name);
        names.insert(name);
    }
    let expected = [
        "commit-task-sqs.json",
        "dry-run.json",
        "manifest-checksum-sqs.json",
        "manifest-json-sqs.json",
        "s3-test-event-sqs.json",
        "shard-task-sqs.json",
    ];
    assert_eq!(names, set(&expected));
}

#[test]
fn sqs_events_are_shaped_like_lambdas() {
    for name in [
        "manifest-checksum-sqs.json",
        "manifest-json-sqs.json",
        "s3-test-event-sqs.json",
        "shard-task-sqs.json",
        "commit-task-sqs.json",
    ] {
        let value = event(name);
        // The trigger tells a direct invocation by its "manifest" field.
        assert!(value.get("manifest").is_none(), "{name}");
        let records = value["Records"].as_array().expect("Records");
        assert_eq!(records.len(), 1, "{name}");
        let record = &records[0];
        for field in [
            "messageId",
            "receiptHandle",
            "body",
            "attributes",
            "messageAttributes",
            "md5OfBody",
            "eventSource",
            "eventSourceARN",
            "awsRegion",
        ] {
            assert!(record.get(field).is_some(), "{name}: no {field}");
        }
        for attribute in [
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
        ] {
            assert!(
                record["attributes"][attribute].is_string(),
                "{name}: {attribute}"
            );
        }
        assert_eq!(
            record["attributes"]["ApproximateReceiveCount"], "1",
            "{name}"
        );
        assert_eq!(record["messageAttributes"], json!({}), "{name}");
        assert_eq!(record["eventSource"], "aws:sqs", "{name}");
        assert_eq!(record["awsRegion"], "us-east-1", "{name}");
        let arn = record["eventSourceARN"].as_str().expect("eventSourceARN");
        assert!(arn.starts_with("arn:aws:sqs:us-east-1:"), "{name}: {arn}");
        let body = sqs_body(name);
        assert_eq!(
            record["md5OfBody"],
            hex::encode(Md5::digest(body.as_bytes())),
            "{name}: md5OfBody is the body's MD5"
        );
    }
}

#[test]
fn notification_bodies_name_the_delivery() {
    let manifest: S3Url = MANIFEST.parse().expect("manifest URL");
    for (name, file) in [
        ("manifest-checksum-sqs.json", "manifest.checksum"),
        ("manifest-json-sqs.json", "manifest.json"),
    ] {
        let body = sqs_body(name);
        // Shaped like S3's own notifications.
        let notification: aws_lambda_events::s3::S3Event =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(notification.records.len(), 1);
        let record = &notification.records[0];
        assert_eq!(record.event_version.as_deref(), Some("2.1"));
        assert_eq!(record.event_source.as_deref(), Some("aws:s3"));
        assert_eq!(record.aws_region.as_deref(), Some("us-east-1"));
        assert_eq!(record.event_name.as_deref(), Some("ObjectCreated:Put"));
        assert_eq!(record.s3.schema_version.as_deref(), Some("1.0"));
        assert_eq!(
            record.s3.configuration_id.as_deref(),
            Some(format!("inventory-import-{file}").as_str())
        );
        assert_eq!(
            record.s3.bucket.name.as_deref(),
            Some("inventory-destination")
        );
        assert_eq!(
            record.s3.bucket.arn.as_deref(),
            Some("arn:aws:s3:::inventory-destination")
        );
        assert!(record.s3.bucket.owner_identity.is_some());
        assert_eq!(
            record.s3.object.key.as_deref(),
            Some(format!("inventories/demo-photos/daily/2026-11-25T01-00Z/{file}").as_str())
        );
        assert!(record.s3.object.size.is_some_and(|s| s > 0));
        assert!(record.s3.object.e_tag.is_some() && record.s3.object.sequencer.is_some());
        let raw: Value = serde_json::from_str(&body).expect("body");
        for field in [
            "userIdentity",
            "requestParameters",
            "responseElements",
            "eventTime",
        ] {
            assert!(raw["Records"][0].get(field).is_some(), "{name}: no {field}");
        }

        let events = parse_notification(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = if file == "manifest.checksum" {
            DeliveryEvent::Complete {
                manifest: manifest.clone(),
            }
        } else {
            DeliveryEvent::ManifestWritten {
                manifest: manifest.clone(),
            }
        };
        assert_eq!(events, vec![expected], "{name}");
        assert_eq!(
            events[0].manifest().map(ToString::to_string).as_deref(),
            Some(MANIFEST)
        );
    }

    let test_event = sqs_body("s3-test-event-sqs.json");
    let raw: Value = serde_json::from_str(&test_event).expect("test event");
    assert_eq!(raw["Event"], "s3:TestEvent");
    assert_eq!(raw["Service"], "Amazon S3");
    assert_eq!(raw["Bucket"], "inventory-destination");
    for field in ["Time", "RequestId", "HostId"] {
        assert!(raw[field].is_string(), "test event: {field}");
    }
    let ignored = parse_notification(&test_event).expect("test event");
    assert!(
        matches!(ignored[..], [DeliveryEvent::Ignored { .. }]),
        "{ignored:?}"
    );
}

#[test]
fn task_bodies_and_the_direct_invocation_decode() {
    let body = sqs_body("shard-task-sqs.json");
    let shard: ShardTask = serde_json::from_str(&body).expect("shard task");
    assert_eq!(
        shard,
        ShardTask {
            repository: "photos".into(),
            job: "374473d2687c3084e4be".into(),
            shard: 0,
        }
    );
    assert_eq!(decode_task::<ShardTask>(&body).expect("decode_task"), shard);

    let body = sqs_body("commit-task-sqs.json");
    let commit: CommitTask = serde_json::from_str(&body).expect("commit task");
    assert_eq!(
        commit,
        CommitTask {
            repository: "photos".into(),
            job: "374473d2687c3084e4be".into(),
            partition: None,
        }
    );
    assert_eq!(
        decode_task::<CommitTask>(&body).expect("decode_task"),
        commit
    );
    // A commit task is not a shard task.
    assert!(decode_task::<ShardTask>(&body).is_err());

    let direct = event("dry-run.json");
    assert!(
        direct.get("manifest").is_some(),
        "the trigger routes on \"manifest\""
    );
    let invocation: DirectInvocation = serde_json::from_value(direct).expect("direct invocation");
    assert_eq!(
        invocation,
        DirectInvocation {
            manifest: MANIFEST.parse().expect("manifest URL"),
            repository: Some("photos".into()),
            dry_run: true,
            force: false,
        }
    );
}

// ----- IAM derived from the functions' calls ------------------------------------------

/// The template's name for a resource the local stack names `name`: a table, a queue
/// or a bucket parameter.
fn logical_id(name: &str) -> String {
    let names = inventory_runtime::resources::ResourceNames::default();
    let dead_letter = inventory_runtime::queues::dead_letter;
    let known = [
        (names.catalog_table.clone(), "CatalogTable"),
        (names.jobs_table.clone(), "JobsTable"),
        (names.staging_table.clone(), "StagingTable"),
        (names.manifest_queue.clone(), "ManifestEventsQueue"),
        (names.shard_queue.clone(), "ShardTasksQueue"),
        (names.commit_queue.clone(), "CommitTasksQueue"),
        (
            dead_letter(&names.manifest_queue),
            "ManifestEventsDeadLetterQueue",
        ),
        (dead_letter(&names.shard_queue), "ShardTasksDeadLetterQueue"),
        (
            dead_letter(&names.commit_queue),
            "CommitTasksDeadLetterQueue",
        ),
        ("inventory-dest".to_string(), "InventoryBucketName"),
        ("catalog-storage".to_string(), "CatalogBucketName"),
        ("photos-source".to_string(), "SourceBucketNames"),
    ];
    known
        .iter()
        .find(|(known, _)| known == name)
        .map(|(_, id)| id.to_string())
        .unwrap_or_else(|| panic!("a call touched {name}, which the template does not define"))
}

/// Each function's role grants exactly what its code calls. The three functions run as
/// separate `local --function` processes, each through a proxy of its own that records
/// every call's IAM action and resource, over an import's every path: deliveries that
/// commit, change and merge into a branch; a dry run in the trigger and one sent to the
/// workers; a delivery refused at planning; a shard failing on every delivery; a task
/// given up by its queue. What the local runner does in place of Lambda's event source
/// mapping (receiving, deleting, and delaying messages; looking up the queues it polls)
/// is replaced by what the mapping needs of the role: receive, delete and attributes.
#[tokio::test]
async fn each_function_is_granted_exactly_what_its_code_calls() {
    use integration_tests::faults::FaultProxy;
    use integration_tests::{LocalStack, finished, ok_json};
    use inventory_devtools::generator::{GeneratorOptions, generate_inventory};

    let stack = LocalStack::start().await;
    stack.photos_source(Some("main")).await;
    let admin = || stack.cli();
    let mut proxies = BTreeMap::new();
    for function in ["trigger", "worker", "committer"] {
        let proxy = FaultProxy::start(&stack.endpoint).await;
        proxy.record_access();
        proxies.insert(function, proxy);
    }
    let through = |function: &str| {
        let mut command = stack.cli();
        command
            .env("AWS_ENDPOINT_URL", &proxies[function].endpoint)
            .env("SHARD_TARGET_BYTES", "1")
            // Commits in partitions, so that their calls are among those made.
            .env("IMPORT_PARTITIONS", "2")
            .env("LOCAL_VISIBILITY_TIMEOUT_SECONDS", "2");
        command
    };
    let run = |function: &'static str| {
        let mut command = through(function);
        command.args(["local", "--until-idle", "--function", function]);
        finished(command)
    };
    let deliver = |created_at: &str, changes: u64| {
        let mut options =
            GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "photos-source");
        options.objects = 300;
        options.files = 2;
        options.created_at = created_at.parse().unwrap();
        options.changes.changed = changes;
        options.changes.added = changes;
        options
    };
    let store = stack.store();

    // Two deliveries, each committed and merged into main. The first one's
    // manifest.json is noticed before its manifest.checksum has landed.
    for (created_at, changes) in [("2026-11-20T01:00:00Z", 0), ("2026-11-21T01:00:00Z", 20)] {
        let delivery = generate_inventory(&store, &deliver(created_at, changes))
            .await
            .unwrap();
        if changes == 0 {
            let checksum = stack.get(&delivery.checksum).await;
            stack.delete(&delivery.checksum).await;
            run("trigger").await;
            stack.put(&delivery.checksum, checksum).await;
        }
        run("trigger").await;
        run("worker").await;
        run("committer").await;
    }
    // Dry runs through the trigger's direct invocation: one worked out in the trigger,
    // one sent to the workers.
    let next = generate_inventory(&store, &deliver("2026-11-22T01:00:00Z", 5))
        .await
        .unwrap();
    let manifest = next.manifest.to_string();
    let mut dry_run = through("trigger");
    dry_run.args(["import", "photos", "--manifest", &manifest, "--dry-run"]);
    finished(dry_run).await;
    let mut dry_run = through("trigger");
    dry_run.env("DRY_RUN_IN_PROCESS_BYTES", "0").args([
        "import",
        "photos",
        "--manifest",
        &manifest,
        "--dry-run",
    ]);
    finished(dry_run).await;
    run("trigger").await;
    run("worker").await;
    run("committer").await;
    // A delivery older than the last import: refused while planning.
    generate_inventory(&store, &deliver("2026-11-19T01:00:00Z", 0))
        .await
        .unwrap();
    run("trigger").await;
    // A delivery whose data file is damaged: its shard fails on each delivery, the
    // last of which fails the job; the queue then gives the task up to the committer.
    let damaged = generate_inventory(&store, &deliver("2026-11-23T01:00:00Z", 0))
        .await
        .unwrap();
    let data_file = &damaged.data_files[0];
    let length = stack.get(data_file).await.len();
    stack.put(data_file, vec![0u8; length]).await;
    run("trigger").await;
    run("worker").await;
    run("committer").await;
    // A commit task given up by its queue while its job waits: the committer fails it.
    let waiting = generate_inventory(&store, &deliver("2026-11-24T01:00:00Z", 0))
        .await
        .unwrap();
    run("trigger").await;
    let jobs = ok_json(admin().args(["jobs", "photos", "--json"]));
    let job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["manifest"] == waiting.manifest.to_string())
        .unwrap()["id"]
        .clone();
    aws_sdk_sqs::Client::new(&stack.config)
        .send_message()
        .queue_url(stack.queue_url("inventory-import-commit-tasks-dlq").await)
        .message_body(json!({ "repository": "photos", "job": job }).to_string())
        .send()
        .await
        .unwrap();
    run("committer").await;
    let jobs = ok_json(admin().args(["jobs", "photos", "--json"]));
    let states: BTreeMap<String, usize> =
        jobs.as_array()
            .unwrap()
            .iter()
            .fold(BTreeMap::new(), |mut states, job| {
                *states
                    .entry(job["state"].as_str().unwrap().to_string())
                    .or_default() += 1;
                states
            });
    assert_eq!(
        states,
        BTreeMap::from([
            ("committed".into(), 3),
            ("failed".into(), 3),
            ("dry_run_complete".into(), 2)
        ]),
        "every path was taken: {jobs}"
    );

    let template = template();
    let polled: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("TriggerFunction", vec!["ManifestEventsQueue"]),
        ("WorkerFunction", vec!["ShardTasksQueue"]),
        (
            "CommitterFunction",
            vec![
                "CommitTasksQueue",
                "ShardTasksDeadLetterQueue",
                "CommitTasksDeadLetterQueue",
            ],
        ),
    ]);
    let mut wrong = Vec::new();
    let runner_lookups = [
        "ManifestEventsQueue",
        "ShardTasksDeadLetterQueue",
        "CommitTasksDeadLetterQueue",
    ];
    for (function, binary) in [
        ("TriggerFunction", "trigger"),
        ("WorkerFunction", "worker"),
        ("CommitterFunction", "committer"),
    ] {
        let mut needed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for access in proxies[binary].access() {
            let id = logical_id(&access.resource);
            let runner = match access.action.as_str() {
                "sqs:ReceiveMessage"
                | "sqs:DeleteMessage"
                | "sqs:ChangeMessageVisibility"
                | "sqs:GetQueueAttributes" => polled[function].contains(&id.as_str()),
                "sqs:GetQueueUrl" => runner_lookups.contains(&id.as_str()),
                _ => false,
            };
            if !runner {
                needed.entry(id).or_default().insert(access.action);
            }
        }
        for queue in &polled[function] {
            needed.entry(queue.to_string()).or_default().extend(set(&[
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ]));
        }
        wrong.extend(misgranted(&template, function, &needed));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// What `function`'s statements grant beyond or short of `needed` (actions by logical
/// id), if anything.
fn misgranted(
    template: &Value,
    function: &str,
    needed: &BTreeMap<String, BTreeSet<String>>,
) -> Option<String> {
    let granted = grants(template, function);
    let flat = |map: &BTreeMap<String, BTreeSet<String>>| -> BTreeSet<String> {
        map.iter()
            // `${AWS::Partition}` in an ARN names no resource.
            .filter(|(id, _)| !id.starts_with("AWS::"))
            .flat_map(|(id, actions)| actions.iter().map(move |a| format!("{a} on {id}")))
            .collect()
    };
    let (needed, granted) = (flat(needed), flat(&granted));
    let missing: Vec<&String> = needed.difference(&granted).collect();
    let unused: Vec<&String> = granted.difference(&needed).collect();
    (!missing.is_empty() || !unused.is_empty()).then(|| {
        format!(
            "{function}: called but not granted: {missing:?}; granted but never called: {unused:?}"
        )
    })
}

/// The api function's role grants exactly what its code calls. Its endpoint runs here as
/// in Lambda, behind a Function URL on loopback (each request an event through
/// `lambda_http`), over a proxy that records every call to the local stack, with issued
/// secrets sealed by KMS; boto3 takes it through what S3 clients do: listings, reads of
/// imported objects (pinned to a version, and null versions), writes, copies and
/// deletions on a branch, multipart uploads completed and aborted, refused requests, an
/// imported object gone from its bucket; then, signing the JSON API's requests with the
/// same key, what programs do to import: an import source added, a dry run of a new
/// delivery, its import started, the jobs listed and the running one read.
#[tokio::test]
async fn the_api_function_is_granted_exactly_what_its_code_calls() {
    use integration_tests::faults::FaultProxy;
    use integration_tests::function_url::FunctionUrl;
    use integration_tests::{LocalStack, ok_json, workspace_root};
    use inventory_devtools::generator::{GeneratorOptions, generate_inventory};

    let stack = LocalStack::start().await;
    stack.imported_photos(100, true).await;
    // The next delivery, for the API to dry-run and import.
    let mut next =
        GeneratorOptions::new("s3://inventory-dest/inv".parse().unwrap(), "photos-source");
    next.objects = 100;
    next.files = 2;
    next.versioned = true;
    next.created_at = "2026-11-26T01:00:00Z".parse().unwrap();
    next.changes.changed = 5;
    next.changes.added = 5;
    let next = generate_inventory(&stack.store(), &next).await.unwrap();
    let manifest = next.manifest.to_string();
    let kms = aws_sdk_kms::Client::new(&stack.config);
    let key_id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let key = ok_json(
        stack
            .cli()
            .env_remove("SECRETS_SEALING_KEY")
            .env("SECRETS_KMS_KEY_ID", &key_id)
            .args(["credentials", "create", "--json"]),
    );
    let listed = ok_json(
        stack
            .cli()
            .args(["ls", "photos", "main", "--recursive", "--json"]),
    );
    let entries = listed["entries"].as_array().expect("entries");
    let with_version: Vec<&Value> = entries
        .iter()
        .filter(|e| e["version_id"].is_string())
        .collect();
    let text = |entry: &Value, field: &str| entry[field].as_str().unwrap().to_string();
    let null_version = entries
        .iter()
        .find(|e| e["version_id"].is_null())
        .map(|e| text(e, "path"))
        .unwrap_or_else(|| panic!("no entry of a null version: {listed}"));
    assert!(with_version.len() > 1, "{listed}");
    let versioned = text(with_version[0], "path");
    // An imported object whose version is gone from the source bucket.
    let vanished = text(with_version[1], "path");
    stack
        .s3()
        .delete_object()
        .bucket("photos-source")
        .key(&vanished)
        .version_id(text(with_version[1], "version_id"))
        .send()
        .await
        .unwrap();

    let proxy = FaultProxy::start(&stack.endpoint).await;
    proxy.record_access();
    let config = stack
        .config
        .to_builder()
        .endpoint_url(&proxy.endpoint)
        .build();
    let sealer = inventory_serve::Sealer::Kms {
        client: aws_sdk_kms::Client::new(&config),
        key_id: key_id.clone(),
    };
    let router = inventory_serve::setup::router_with(
        &config,
        inventory_catalog::catalog::DEFAULT_TABLE,
        sealer,
    );
    let url = FunctionUrl::start(api::Endpoint::new(router)).await;

    let script = format!(
        r#"
import json, boto3, botocore
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url="{endpoint}", region_name="us-east-1",
    aws_access_key_id="{key_id}", aws_secret_access_key="{secret}",
    config=Config(s3={{"addressing_style": "path"}}, retries={{"max_attempts": 1}}))
def code(call):
    try:
        call()
        return None
    except botocore.exceptions.ClientError as err:
        return err.response["Error"]["Code"]
out = {{}}
out["buckets"] = [b["Name"] for b in s3.list_buckets()["Buckets"]]
s3.head_bucket(Bucket="photos")
s3.get_bucket_location(Bucket="photos")
out["refs"] = [p["Prefix"] for p in s3.list_objects_v2(Bucket="photos", Delimiter="/")["CommonPrefixes"]]
out["listed"] = len(s3.list_objects_v2(Bucket="photos", Prefix="main/", MaxKeys=5, FetchOwner=True)["Contents"])
s3.list_objects(Bucket="photos", Prefix="main/", MaxKeys=5)
for path in ["{versioned}", "{null_version}"]:
    size = s3.head_object(Bucket="photos", Key="main/" + path)["ContentLength"]
    assert len(s3.get_object(Bucket="photos", Key="main/" + path)["Body"].read()) == size
    s3.get_object(Bucket="photos", Key="main/" + path, Range="bytes=0-1")["Body"].read()
odd = "main/odd/a b+c%~é.txt"
s3.put_object(Bucket="photos", Key=odd, Body=b"odd bytes")
out["odd"] = s3.get_object(Bucket="photos", Key=odd)["Body"].read().decode()
out["odd_listed"] = [o["Key"] for o in s3.list_objects_v2(Bucket="photos", Prefix="main/odd/")["Contents"]]
s3.copy_object(Bucket="photos", Key="main/odd/copied.txt", CopySource={{"Bucket": "photos", "Key": odd}})
s3.copy_object(Bucket="photos", Key="main/odd/imported.bin",
    CopySource={{"Bucket": "photos", "Key": "main/{versioned}"}})
s3.delete_object(Bucket="photos", Key="main/odd/copied.txt")
s3.delete_objects(Bucket="photos", Delete={{"Objects": [{{"Key": "main/odd/imported.bin"}},
    {{"Key": "main/{null_version}"}}]}})
up = s3.create_multipart_upload(Bucket="photos", Key="main/odd/parts.bin")["UploadId"]
etag = s3.upload_part(Bucket="photos", Key="main/odd/parts.bin", UploadId=up, PartNumber=1,
    Body=b"one part")["ETag"]
out["parts"] = len(s3.list_parts(Bucket="photos", Key="main/odd/parts.bin", UploadId=up)["Parts"])
out["uploads"] = len(s3.list_multipart_uploads(Bucket="photos").get("Uploads", []))
s3.complete_multipart_upload(Bucket="photos", Key="main/odd/parts.bin", UploadId=up,
    MultipartUpload={{"Parts": [{{"PartNumber": 1, "ETag": etag}}]}})
out["completed"] = s3.get_object(Bucket="photos", Key="main/odd/parts.bin")["Body"].read().decode()
gone = s3.create_multipart_upload(Bucket="photos", Key="main/odd/gone.bin")["UploadId"]
s3.upload_part(Bucket="photos", Key="main/odd/gone.bin", UploadId=gone, PartNumber=1, Body=b"dropped")
s3.abort_multipart_upload(Bucket="photos", Key="main/odd/gone.bin", UploadId=gone)
out["refused"] = {{
    "import branch": code(lambda: s3.put_object(Bucket="photos", Key="import-from-inventory/x", Body=b"x")),
    "missing": code(lambda: s3.get_object(Bucket="photos", Key="main/no/such/key")),
    "aborted": code(lambda: s3.head_object(Bucket="photos", Key="main/odd/gone.bin")),
    "vanished": code(lambda: s3.get_object(Bucket="photos", Key="main/{vanished}")),
}}
# The JSON API, signed as programs sign it: SigV4 for service s3, the body's SHA-256 in
# x-amz-content-sha256.
import urllib.request, urllib.error
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
signer = S3SigV4Auth(Credentials("{key_id}", "{secret}"), "s3", "us-east-1")
def api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    headers = {{"content-type": "application/json"}} if body is not None else {{}}
    request = AWSRequest(method=method, url="{endpoint}/api/v1" + path, data=data, headers=headers)
    signer.add_auth(request)
    prepared = request.prepare()
    sent = urllib.request.Request(prepared.url, data=data or None, method=method,
        headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(sent) as response:
            return [response.status, json.loads(response.read())]
    except urllib.error.HTTPError as err:
        return [err.code, json.loads(err.read())]
out["source"] = api("POST", "/repositories/photos/sources",
    {{"inventory": "s3://inventory-dest/inv/photos-source/daily/", "merge_into": "main"}})
out["dry run"] = api("POST", "/repositories/photos/imports/test", {{"manifest": "{manifest}"}})
out["import"] = api("POST", "/repositories/photos/imports", {{"manifest": "{manifest}"}})
out["jobs"] = api("GET", "/repositories/photos/imports")
out["job"] = api("GET", "/repositories/photos/imports/" + out["import"][1].get("id", "none"))
print(json.dumps(out))
"#,
        endpoint = url.endpoint,
        key_id = key["access_key_id"].as_str().unwrap(),
        secret = key["secret_access_key"].as_str().unwrap(),
    );
    let mut python = std::process::Command::new(workspace_root().join(".venv/bin/python"));
    python
        .arg("-c")
        .arg(&script)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .stdin(std::process::Stdio::null());
    // Off the runtime's thread: the Function URL answers on it meanwhile.
    let output = tokio::task::spawn_blocking(move || python.output())
        .await
        .expect("python's thread")
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).expect("the script's JSON");
    assert_eq!(out["buckets"], json!(["photos"]));
    assert_eq!(out["refs"], json!(["import-from-inventory/", "main/"]));
    assert_eq!(out["listed"], 5);
    assert_eq!(out["odd"], "odd bytes");
    assert_eq!(out["odd_listed"], json!(["main/odd/a b+c%~é.txt"]));
    assert_eq!((&out["parts"], &out["uploads"]), (&json!(1), &json!(1)));
    assert_eq!(out["completed"], "one part");
    assert_eq!(
        out["refused"],
        json!({
            "import branch": "AccessDenied",
            "missing": "NoSuchKey",
            "aborted": "404",
            "vanished": "InvalidObjectState",
        })
    );
    let answer = |name: &str| {
        let status = out[name][0].as_u64().unwrap_or_default();
        (status, &out[name][1])
    };
    let (status, source) = answer("source");
    assert_eq!(status, 201, "{out}");
    assert_eq!(source["repository"], "photos", "{out}");
    let (status, dry_run) = answer("dry run");
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (&dry_run["dry_run"], &dry_run["state"]),
        (&json!(true), &json!("dry_run_complete")),
        "{out}"
    );
    assert_eq!(
        (&dry_run["summary"]["added"], &dry_run["summary"]["total"]),
        (&json!(5), &json!(105)),
        "{out}"
    );
    let (status, import) = answer("import");
    assert_eq!(status, 201, "{out}");
    assert_eq!(
        (&import["manifest"], &import["state"]),
        (&json!(manifest), &json!("staging")),
        "{out}"
    );
    let (status, jobs) = answer("jobs");
    assert_eq!(status, 200, "{out}");
    let ids: BTreeSet<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|job| job["id"].as_str())
        .collect();
    assert!(
        ids.contains(import["id"].as_str().unwrap())
            && ids.contains(dry_run["id"].as_str().unwrap()),
        "{out}"
    );
    let (status, job) = answer("job");
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (&job["id"], &job["state"], &job["tasks_sent"]),
        (&import["id"], &json!("staging"), &json!(true)),
        "{out}"
    );
    // The import's shard task waits for the workers.
    assert_eq!(
        stack
            .queue_counts(&inventory_runtime::resources::ResourceNames::default().shard_queue)
            .await
            .0,
        1,
        "{out}"
    );

    let mut needed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for access in proxy.access() {
        let id = if access.action.starts_with("kms:") {
            assert!(
                access.resource.is_empty() || access.resource.contains(&key_id),
                "{access:?}: not the sealing key"
            );
            "SecretsKey".to_string()
        } else {
            logical_id(&access.resource)
        };
        needed.entry(id).or_default().insert(access.action);
    }
    assert!(
        needed["SecretsKey"].contains("kms:Decrypt"),
        "secrets were unsealed by KMS: {needed:?}"
    );
    let template = template();
    if let Some(wrong) = misgranted(&template, "ApiFunction", &needed) {
        panic!("{wrong}");
    }
}

#[test]
fn the_api_function_answers_at_a_streaming_function_url_with_secrets_sealed_by_its_key() {
    let template = template();
    let defined = resources(&template);
    for function in functions(&template) {
        let url = &defined[function]["Properties"]["FunctionUrlConfig"];
        if function == "ApiFunction" {
            // Open to every request: the function checks each one's SigV4 signature.
            assert_eq!(
                url,
                &json!({ "AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM" }),
                "{function}"
            );
        } else {
            assert_eq!(url, &Value::Null, "{function} has a URL");
        }
    }
    let main = std::fs::read_to_string(workspace().join("functions/api/src/main.rs"))
        .expect("the api function's main.rs");
    assert!(
        main.contains("api::run(") && main.contains("setup::router_from_env()"),
        "the function serves the endpoint's router, configured as on a host: {main}"
    );
    let lib = std::fs::read_to_string(workspace().join("functions/api/src/lib.rs"))
        .expect("the api function's lib.rs");
    assert!(lib.contains("lambda_http::run_with_streaming_response("));

    // The key that seals issued secrets: administered by the account, whose IAM
    // policies say who uses it; kept with the table that holds what it sealed.
    let key = &defined["SecretsKey"];
    assert_eq!(key["Type"], "AWS::KMS::Key");
    assert_eq!(key["DeletionPolicy"], "Retain");
    assert_eq!(key["UpdateReplacePolicy"], "Retain");
    assert_eq!(key["Properties"]["EnableKeyRotation"], true);
    let statements = key["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .expect("the key policy's statements");
    assert_eq!(statements.len(), 1);
    let statement = &statements[0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(
        statement["Principal"],
        json!({ "AWS": { "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" } })
    );
    assert_eq!(statement["Action"], "kms:*");
    assert_eq!(statement["Resource"], "*");
    assert!(statement.get("Condition").is_none());

    // Only the api function uses the key, and only to unseal (issuing keys seals, with
    // the permissions of whoever runs `credentials create`).
    for statement in iam_statements(&template) {
        let actions = statement.actions();
        let on_key = statement
            .resources()
            .iter()
            .any(|element| references(element).contains("SecretsKey"));
        if actions.iter().any(|a| a.starts_with("kms:")) || on_key {
            assert_eq!(statement.owner, "ApiFunction", "{}", statement.name());
            assert_eq!(actions, vec!["kms:Decrypt"], "{}", statement.name());
            for element in statement.resources() {
                assert_eq!(
                    element,
                    &json!({ "Fn::GetAtt": ["SecretsKey", "Arn"] }),
                    "{}",
                    statement.name()
                );
            }
        }
    }
}
