//! Which credentials a target sends: a header that carries one, given on
//! purpose (Azure's `api-key`, `x-api-key`, an `Authorization`), is the
//! server's credential, and the key of the default variable
//! (`OPENAI_API_KEY`), which nobody named, is not sent beside it, to a
//! host that is not OpenAI's; a variable named on purpose is sent as
//! asked, and one that would be a second `Authorization` is refused.
//! Against a real server on 127.0.0.1 that records the headers it got.
//!
//! Every test of this file sets `OPENAI_API_KEY` to [`OPENAI_KEY`] (the
//! same value, so their order does not matter), as a user's shell has it.

use xsafe_core::{ChatRequest, Message};
use xsafe_target::{TargetSettings, TargetsFile, build_openai, parse_headers, resolve};
use xsafe_testkit::{Reply, TestServer};

/// The user's OpenAI key, in the default variable.
const OPENAI_KEY: &str = "sk-openai-users-own-0123456789";

fn set_openai_key() {
    // SAFETY: every test of this binary sets the same value.
    unsafe { std::env::set_var("OPENAI_API_KEY", OPENAI_KEY) };
}

fn ask() -> ChatRequest {
    ChatRequest::new(vec![Message::user("Hi")])
}

/// `openai:m` at `server` with the `--header` values `headers` and, when
/// given, `--api-key-env`.
fn flags(server: &TestServer, headers: &[&str], api_key_env: Option<&str>) -> TargetSettings {
    TargetSettings {
        base_url: Some(format!("{}/v1", server.url())),
        headers: parse_headers(headers, "--header").unwrap(),
        api_key_env: api_key_env.map(String::from),
        max_retries: Some(0),
        ..Default::default()
    }
}

/// The headers (`authorization`, `api-key`) of the one request a target
/// built from `spec` and `settings` sent to `server`.
async fn sent(
    server: &TestServer,
    spec: &str,
    settings: &TargetSettings,
    file: Option<&TargetsFile>,
) -> (Option<String>, Option<String>) {
    let target = build_openai(&resolve(spec, settings, file).unwrap()).unwrap();
    target.chat(&ask()).await.unwrap();
    let request = server.requests().pop().unwrap();
    let header = |name: &str| request.header(name).map(String::from);
    (header("authorization"), header("api-key"))
}

/// The reviewer's case: `--header 'api-key: ...'` for Azure OpenAI sent
/// the user's `OPENAI_API_KEY` as `Authorization: Bearer` too, to
/// Microsoft's host. The header alone is sent now, from the flag or from a
/// targets file, and so is any other credential header.
#[tokio::test]
async fn a_credential_header_given_is_sent_without_the_default_key() {
    set_openai_key();
    let server = TestServer::start(|_| Reply::chat("ok"));
    let azure = flags(&server, &["api-key: az-0123456789abcdef"], None);
    assert_eq!(
        sent(&server, "openai:m", &azure, None).await,
        (None, Some("az-0123456789abcdef".into()))
    );
    for header in [
        "x-api-key: ant-0123456789",
        "X-Auth-Token: tok-0123456789",
        "Authorization: Bearer own-0123456789",
    ] {
        let settings = flags(&server, &[header], None);
        let (authorization, _) = sent(&server, "openai:m", &settings, None).await;
        let request = server.requests().pop().unwrap();
        let (name, value) = header.split_once(": ").unwrap();
        assert_eq!(request.header(name), Some(value), "{header}");
        assert_ne!(
            authorization.as_deref(),
            Some(format!("Bearer {OPENAI_KEY}").as_str()),
            "{header}"
        );
    }
    // From a targets file: the same.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.toml");
    std::fs::write(
        &path,
        format!(
            "[targets.azure]\nmodel = \"m\"\nbase_url = \"{}/v1\"\nheaders = [\"api-key: \
             az-0123456789abcdef\"]\n",
            server.url()
        ),
    )
    .unwrap();
    let file = TargetsFile::load(&path).unwrap();
    assert_eq!(
        sent(&server, "azure", &TargetSettings::default(), Some(&file)).await,
        (None, Some("az-0123456789abcdef".into()))
    );
    // A header that carries no credential leaves the default key sent.
    let titled = flags(&server, &["X-Title: my app"], None);
    assert_eq!(
        sent(&server, "openai:m", &titled, None).await,
        (Some(format!("Bearer {OPENAI_KEY}")), None)
    );
}

/// A variable named on purpose is sent beside a credential header, as
/// asked (a gateway's key in one, the provider's in the other); one that
/// would be a second `Authorization` (beside an `Authorization` header or
/// a user name and password in the base URL) is refused, naming both.
#[tokio::test]
async fn a_key_variable_named_on_purpose_is_sent_beside_a_header_or_refused() {
    set_openai_key();
    let server = TestServer::start(|_| Reply::chat("ok"));
    let gateway = flags(
        &server,
        &["x-gateway-key: gw-0123456789"],
        Some("OPENAI_API_KEY"),
    );
    let target = build_openai(&resolve("openai:m", &gateway, None).unwrap()).unwrap();
    target.chat(&ask()).await.unwrap();
    let request = server.requests().pop().unwrap();
    assert_eq!(
        (
            request.header("authorization"),
            request.header("x-gateway-key")
        ),
        (
            Some(format!("Bearer {OPENAI_KEY}").as_str()),
            Some("gw-0123456789")
        )
    );
    let both = flags(
        &server,
        &["Authorization: Bearer own-0123456789"],
        Some("OPENAI_API_KEY"),
    );
    let err = build_openai(&resolve("openai:m", &both, None).unwrap())
        .err()
        .expect("two Authorization headers")
        .to_string();
    assert_eq!(
        err,
        "the API key variable `OPENAI_API_KEY` (named by --api-key-env) and the `Authorization` \
         header given with --header would both be sent as the `Authorization` header: give one \
         of them (leave out --api-key-env to send the header alone)"
    );
    let mut in_url = flags(&server, &[], Some("OPENAI_API_KEY"));
    in_url.base_url = Some(format!(
        "{}/v1",
        server.url().replace("http://", "http://alice:pw@")
    ));
    let err = build_openai(&resolve("openai:m", &in_url, None).unwrap())
        .err()
        .expect("two Authorization headers")
        .to_string();
    assert_eq!(
        err,
        "the API key variable `OPENAI_API_KEY` (named by --api-key-env) and the user name and \
         password in the base URL would both be sent as the `Authorization` header: give one of \
         them (leave out --api-key-env to send the URL's alone)"
    );
    assert_eq!(server.request_count(), 1, "nothing sent for the refused");
}

/// A 401 to a credential header says that the default variable's key was
/// not sent beside it, and how to send it too.
#[tokio::test]
async fn a_refused_header_says_the_default_key_was_not_sent() {
    set_openai_key();
    let server = TestServer::start(|_| Reply::status(401, r#"{"error":{"message":"denied"}}"#));
    let settings = flags(&server, &["x-gateway-key: gw-0123456789"], None);
    let target = build_openai(&resolve("openai:m", &settings, None).unwrap()).unwrap();
    let err = target.chat(&ask()).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "HTTP 401: denied (the server refused the credentials in the header `x-gateway-key` \
         given with --header; the key in `OPENAI_API_KEY` was not sent beside it, as a header \
         given carries a credential: to send it too, name the variable with --api-key-env)"
    );
    assert_eq!(server.requests()[0].header("authorization"), None);
}
