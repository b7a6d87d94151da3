//! A 400 that refuses a setting every request sends (a token limit above
//! the model's most, a temperature or stop sequences it does not take)
//! names where the user gave the value, so that they change the right
//! thing: the flag of the command (`--max-tokens` for a run's target,
//! `--judge-max-tokens` for an `llm:` judge's), or the field of the target
//! in its targets file. Against a real server on 127.0.0.1.

use xsafe_core::{ChatRequest, Message, TargetError};
use xsafe_target::{
    Flags, ResolvedTarget, TargetSettings, TargetsFile, build_openai, resolve, resolve_with,
};
use xsafe_testkit::{Reply, TestServer};

/// OpenAI's 400 for a token limit above the model's most.
const TOO_MANY_TOKENS: &str = r#"{"error":{"message":"max_tokens is too large: 100000. This model supports at most 16384 completion tokens, whereas you provided 100000.","type":"invalid_request_error","param":"max_tokens","code":null}}"#;

/// OpenAI's 400 for a temperature a reasoning model does not take.
const NO_TEMPERATURE: &str = r#"{"error":{"message":"Unsupported value: 'temperature' does not support 0.5 with this model. Only the default (1) value is supported.","type":"invalid_request_error","param":"temperature","code":"unsupported_value"}}"#;

/// OpenAI's 400 for stop sequences a model does not take.
const NO_STOP: &str = r#"{"error":{"message":"Unsupported parameter: 'stop' is not supported with this model.","type":"invalid_request_error","param":"stop","code":"unsupported_parameter"}}"#;

/// A server that refuses every request with `body` as an HTTP 400.
fn refusing(body: &'static str) -> TestServer {
    TestServer::start(move |_| Reply::status(400, body))
}

/// A targets file `targets.toml` in `dir` with the target `big` at
/// `server`, with `lines` added to its table; and its path.
fn targets_file(dir: &std::path::Path, server: &TestServer, lines: &str) -> String {
    let path = dir.join("targets.toml");
    std::fs::write(
        &path,
        format!(
            "[targets.big]\nmodel = \"m\"\nbase_url = \"{}/v1\"\nmax_retries = 0\n{lines}\n",
            server.url()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// The error of one request to `spec` resolved with `cli` over `file`.
async fn error_of(spec: &str, cli: &TargetSettings, file: Option<&TargetsFile>) -> String {
    let err = asked(&resolve(spec, cli, file).unwrap()).await;
    assert!(matches!(err, TargetError::Config(_)), "{err:?}");
    err.to_string()
}

/// The error of one request to the target `resolved` builds.
async fn asked(resolved: &ResolvedTarget) -> TargetError {
    build_openai(resolved)
        .unwrap()
        .chat(&ChatRequest::new(vec![Message::user("Hi")]))
        .await
        .unwrap_err()
}

/// The reviewer's case: a targets file's `max_tokens = 100000` was said to
/// be `--max-tokens 100000`, a flag the user never gave. The file, the
/// target and the field are named now; a flag laid over the file is named
/// as the flag.
#[tokio::test]
async fn a_refused_setting_of_a_targets_file_names_the_file_the_target_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = refusing(TOO_MANY_TOKENS);
    let path = targets_file(dir.path(), &server, "max_tokens = 100000");
    let file = TargetsFile::load(path.as_ref()).unwrap();
    let err = error_of("big", &TargetSettings::default(), Some(&file)).await;
    assert!(
        err.ends_with(&format!(
            "(the model takes no max_tokens 100000, given as `max_tokens` of target `big` in \
             the targets file `{path}`: give a smaller one there, at most the limit the message \
             names)"
        )),
        "{err}"
    );
    assert!(!err.contains("--max-tokens"), "{err}");
    // `--max-tokens` laid over the file's is the flag's.
    let cli = TargetSettings {
        max_tokens: Some(100_000),
        ..Default::default()
    };
    let err = error_of("big", &cli, Some(&file)).await;
    assert!(
        err.ends_with(
            "(the model takes no --max-tokens 100000: give a smaller one, at most the limit the \
             message names)"
        ),
        "{err}"
    );

    // A temperature and stop sequences of the file's, the same.
    let server = refusing(NO_TEMPERATURE);
    let path = targets_file(dir.path(), &server, "temperature = 0.5");
    let file = TargetsFile::load(path.as_ref()).unwrap();
    let err = error_of("big", &TargetSettings::default(), Some(&file)).await;
    assert!(
        err.ends_with(&format!(
            "(the model takes no temperature 0.5, given as `temperature` of target `big` in the \
             targets file `{path}`: set the one it names there, e.g. `temperature = 1`)"
        )),
        "{err}"
    );
    let server = refusing(NO_STOP);
    let path = targets_file(dir.path(), &server, "stop = [\"END\"]");
    let file = TargetsFile::load(path.as_ref()).unwrap();
    let err = error_of("big", &TargetSettings::default(), Some(&file)).await;
    assert!(
        err.ends_with(&format!(
            "(the model takes no stop sequences, or not these, given as `stop` of target `big` \
             in the targets file `{path}`: leave it out there, or give ones it takes)"
        )),
        "{err}"
    );
}

/// A setting nobody gave (xsafe's default) is said to be the default, with
/// how to give another: the flag, or the target's field in its file.
#[tokio::test]
async fn a_refused_default_says_where_to_give_another() {
    let dir = tempfile::tempdir().unwrap();
    let server = refusing(NO_TEMPERATURE);
    let path = targets_file(dir.path(), &server, "");
    let file = TargetsFile::load(path.as_ref()).unwrap();
    let err = error_of("big", &TargetSettings::default(), Some(&file)).await;
    assert!(
        err.ends_with(&format!(
            "(the model takes no temperature 0, xsafe's default: give the one it names with \
             --temperature, or as `temperature` of target `big` in the targets file `{path}`, \
             e.g. 1)"
        )),
        "{err}"
    );
    let cli = TargetSettings {
        base_url: Some(format!("{}/v1", server.url())),
        max_retries: Some(0),
        ..Default::default()
    };
    let err = error_of("openai:m", &cli, None).await;
    assert!(
        err.ends_with(
            "(the model takes no temperature 0, xsafe's default: give the one it names with \
             --temperature, e.g. 1)"
        ),
        "{err}"
    );
}

/// The flags of an `llm:` judge, as the command line gives them: none for
/// the temperature and stop sequences.
fn judge_flags() -> Flags {
    Flags {
        temperature: None,
        max_tokens: Some("--judge-max-tokens".into()),
        stop: None,
        api_key_env: Some("--judge-api-key-env".into()),
        header: Some("--judge-header".into()),
    }
}

/// A target resolved with another command's flags (an `llm:` judge's)
/// names them: its token limit, its key variable, its headers; a setting
/// it has no flag for is given in a targets file.
#[tokio::test]
async fn another_commands_flags_are_named() {
    let server = refusing(TOO_MANY_TOKENS);
    let judge = TargetSettings {
        base_url: Some(format!("{}/v1", server.url())),
        max_tokens: Some(100_000),
        max_retries: Some(0),
        ..Default::default()
    };
    let resolved = resolve_with("openai:j", &judge, None, &judge_flags()).unwrap();
    let err = asked(&resolved).await.to_string();
    assert!(
        err.ends_with(
            "(the model takes no --judge-max-tokens 100000: give a smaller one, at most the \
             limit the message names)"
        ),
        "{err}"
    );
    // A temperature the judge has no flag for.
    let server = refusing(NO_TEMPERATURE);
    let judge = TargetSettings {
        base_url: Some(format!("{}/v1", server.url())),
        max_retries: Some(0),
        ..Default::default()
    };
    let mut resolved = resolve_with("openai:j", &judge, None, &judge_flags()).unwrap();
    resolved.settings.temperature = Some(0.0);
    let err = asked(&resolved).await.to_string();
    assert!(
        err.ends_with(
            "(the model takes no temperature 0, xsafe's default: give the one it names as \
             `temperature` of a target NAME in a --targets file, with --judge llm:NAME, e.g. 1)"
        ),
        "{err}"
    );
    // A key variable not set, and headers refused.
    let unset = TargetSettings {
        api_key_env: Some("XSAFE_TEST_JUDGE_KEY_NOT_SET".into()),
        ..judge.clone()
    };
    let resolved = resolve_with("openai:j", &unset, None, &judge_flags()).unwrap();
    let err = build_openai(&resolved).err().unwrap().to_string();
    assert_eq!(
        err,
        "the API key variable `XSAFE_TEST_JUDGE_KEY_NOT_SET` (named by --judge-api-key-env) is \
         not set or is empty; export it, or leave the setting out for a server that needs no key"
    );
    let server = TestServer::start(|_| Reply::status(401, r#"{"error":{"message":"denied"}}"#));
    let keyed = TargetSettings {
        base_url: Some(format!("{}/v1", server.url())),
        headers: [("x-api-key".to_string(), "judge-key-0123456789".to_string())].into(),
        max_retries: Some(0),
        ..Default::default()
    };
    let resolved = resolve_with("openai:j", &keyed, None, &judge_flags()).unwrap();
    let err = asked(&resolved).await.to_string();
    assert!(
        err.contains(
            "(the server refused the credentials in the header `x-api-key` given with \
             --judge-header"
        ),
        "{err}"
    );
}

/// A targets file's key variable, not set, is named as its field; headers
/// given by both the file and a flag are said to come from either.
#[tokio::test]
async fn a_targets_files_key_variable_and_headers_are_named_as_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(|_| Reply::status(401, r#"{"error":{"message":"denied"}}"#));
    let path = targets_file(
        dir.path(),
        &server,
        "api_key_env = \"XSAFE_TEST_FILE_KEY_NOT_SET\"\nheaders = [\"x-team-token: t-0123456789\"]",
    );
    let file = TargetsFile::load(path.as_ref()).unwrap();
    let resolved = resolve("big", &TargetSettings::default(), Some(&file)).unwrap();
    let err = build_openai(&resolved).err().unwrap().to_string();
    assert!(
        err.contains(&format!(
            "(named by `api_key_env` of target `big` in the targets file `{path}`) is not set"
        )),
        "{err}"
    );
    let path = targets_file(
        dir.path(),
        &server,
        "headers = [\"x-team-token: t-0123456789\"]",
    );
    let file = TargetsFile::load(path.as_ref()).unwrap();
    let cli = TargetSettings {
        headers: [("x-user-token".to_string(), "u-0123456789".to_string())].into(),
        ..Default::default()
    };
    let err = build_openai(&resolve("big", &cli, Some(&file)).unwrap())
        .unwrap()
        .chat(&ChatRequest::new(vec![Message::user("Hi")]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "(the server refused the credentials in the headers `x-team-token`, \
             `x-user-token` given with --header or in `headers` of target `big` in the targets \
             file `{path}`"
        )),
        "{err}"
    );
}
