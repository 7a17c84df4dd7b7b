//! Access keys the product issues: `credentials create|list|delete`, SigV4 in headers
//! and in presigned URLs, secrets sealed (by a configured key or by KMS) and never
//! stored or printed in clear after creation.

use integration_tests::serve::Server;
use integration_tests::{LocalStack, ok_json};
use serde_json::json;

/// The whole catalog table, as text.
async fn table_dump(stack: &LocalStack) -> String {
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.config);
    let items = dynamo
        .scan()
        .table_name(inventory_catalog::catalog::DEFAULT_TABLE)
        .send()
        .await
        .unwrap();
    format!("{:?}", items.items())
}

#[tokio::test]
async fn issued_keys_sign_requests_and_deleted_or_unknown_ones_are_refused() {
    let stack = LocalStack::start().await;
    stack.imported_photos(3, false).await;
    let server = Server::start(&stack);
    let spare = ok_json(stack.cli().args(["credentials", "create", "--json"]));
    let spare_id = spare["access_key_id"].as_str().unwrap().to_string();
    let spare_secret = spare["secret_access_key"].as_str().unwrap().to_string();
    assert!(
        spare_id.starts_with("AKII") && spare_id.len() == 20,
        "{spare_id}"
    );
    assert_eq!(spare_secret.len(), 40);

    // Listed without secrets; the secrets are nowhere in the table.
    let listed = ok_json(stack.cli().args(["credentials", "list", "--json"]));
    let mut ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["access_key_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut expected = vec![server.key_id.as_str(), spare_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert!(!listed.to_string().contains(&spare_secret));
    let dump = table_dump(&stack).await;
    assert!(!dump.contains(&spare_secret) && !dump.contains(&server.secret));

    // Deleted: refused from then on; deleting it again names it.
    ok_json(
        stack
            .cli()
            .args(["credentials", "delete", &spare_id, "--json"]),
    );
    let again = stack
        .cli()
        .args(["credentials", "delete", &spare_id])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stderr),
        format!("error: access key {spare_id} does not exist\n")
    );

    let result = server.boto3(&format!(
        r#"
import time, urllib.request, urllib.error
errors = {{}}
for name, call in [
    ("deleted key", lambda: client("{spare_secret}", "{spare_id}").list_buckets()),
    ("unknown key", lambda: client("x" * 40, "AKIINOSUCHKEY0000000").list_buckets()),
    ("wrong secret", lambda: client("wrong").list_buckets()),
]:
    try:
        call()
        errors[name] = None
    except botocore.exceptions.ClientError as e:
        errors[name] = e.response["Error"]["Code"]
key = s3.list_objects_v2(Bucket="photos", Prefix="main/")["Contents"][0]["Key"]
direct = s3.get_object(Bucket="photos", Key=key)["Body"].read()
url = s3.generate_presigned_url("get_object", Params={{"Bucket": "photos", "Key": key}}, ExpiresIn=600)
presigned = urllib.request.urlopen(url).read()
def status(url):
    try:
        urllib.request.urlopen(url)
        return 200
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        return [e.code, body.split("<Code>")[1].split("</Code>")[0]]
tampered = status(url.replace("Signature=", "Signature=0"))
expiring = s3.generate_presigned_url("get_object", Params={{"Bucket": "photos", "Key": key}}, ExpiresIn=1)
time.sleep(2)
expired = status(expiring)
unsigned = status(url.split("?")[0])
print(json.dumps({{"errors": errors, "same": presigned == direct, "size": len(direct),
    "tampered": tampered, "expired": expired, "unsigned": unsigned}}))
"#
    ));
    assert_eq!(
        result["errors"],
        json!({
            "deleted key": "InvalidAccessKeyId",
            "unknown key": "InvalidAccessKeyId",
            "wrong secret": "SignatureDoesNotMatch",
        })
    );
    assert_eq!(result["same"], json!(true));
    assert!(result["size"].as_u64().unwrap() > 0);
    assert_eq!(result["tampered"], json!([403, "SignatureDoesNotMatch"]));
    assert_eq!(result["expired"], json!([403, "AccessDenied"]));
    assert_eq!(result["unsigned"], json!([403, "AccessDenied"]));
}

#[tokio::test]
async fn secrets_sealed_by_kms_open_only_through_kms() {
    let stack = LocalStack::start().await;
    stack.imported_photos(2, false).await;
    let kms = aws_sdk_kms::Client::new(&stack.config);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let with_kms = |args: &[&str]| {
        let mut command = stack.cli();
        command
            .env_remove("SECRETS_SEALING_KEY")
            .env("SECRETS_KMS_KEY_ID", &key_id)
            .args(args);
        command
    };
    let created = ok_json(&mut with_kms(&["credentials", "create", "--json"]));
    let id = created["access_key_id"].as_str().unwrap();
    let secret = created["secret_access_key"].as_str().unwrap();
    assert!(!table_dump(&stack).await.contains(secret));

    // A server that seals with KMS opens it.
    let port = integration_tests::free_port();
    let mut command = with_kms(&["serve", "--listen", &format!("127.0.0.1:{port}")]);
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    integration_tests::kill_with_parent(&mut command);
    let mut child = command.spawn().unwrap();
    integration_tests::wait_for_port(port);
    let output =
        std::process::Command::new(integration_tests::workspace_root().join(".venv/bin/python"))
            .arg("-c")
            .arg(format!(
                r#"
import boto3, json
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:{port}", region_name="us-east-1",
    aws_access_key_id="{id}", aws_secret_access_key="{secret}",
    config=Config(s3={{"addressing_style": "path"}}))
print(json.dumps([b["Name"] for b in s3.list_buckets()["Buckets"]]))
"#
            ))
            .output()
            .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        r#"["photos"]"#
    );

    // Without any sealing key, the commands say what to set.
    let bare = stack
        .cli()
        .env_remove("SECRETS_SEALING_KEY")
        .args(["credentials", "list"])
        .output()
        .unwrap();
    assert!(!bare.status.success());
    assert_eq!(
        String::from_utf8_lossy(&bare.stderr),
        "error: no key seals secrets: set SECRETS_SEALING_KEY (32 bytes, base64: \
         `openssl rand -base64 32`) or SECRETS_KMS_KEY_ID (a KMS key id or ARN)\n"
    );
}
