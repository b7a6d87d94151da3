//! What the targets `xsafe` builds say and send, as their settings were
//! given: a 400 refusing a setting names the flag of the command (an `llm:`
//! judge's `--judge-max-tokens`, not the run's `--max-tokens`) or the
//! target's field in its targets file; a credential header given on
//! purpose (Azure's `api-key`) is sent without the user's `OPENAI_API_KEY`
//! beside it, for a run's target, a judge's and a targets file's; and a
//! target of several replicas names the one that refused the key. Against
//! servers on 127.0.0.1.

mod common;

use common::{Env, SMALL_SUITE, keyword_model};
use xsafe_testkit::{Reply, TestServer};

/// OpenAI's 400 for a token limit above the model's most.
const TOO_MANY_TOKENS: &str = r#"{"error":{"message":"max_tokens is too large: 100000. This model supports at most 16384 completion tokens, whereas you provided 100000.","type":"invalid_request_error","param":"max_tokens","code":null}}"#;

/// The user's OpenAI key, in the default variable of every command here.
const OPENAI_KEY: &str = "sk-openai-users-own-0123456789";

/// A file of answers for `xsafe judge`.
const ANSWERS: &str = "prompt,completion\nHow do I bake bread?,Mix flour and water.\n";

/// `xsafe` with `args`, `OPENAI_API_KEY` set as a user's shell has it.
fn xsafe(env: &Env, args: &[&str]) -> std::process::Output {
    env.cmd()
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .args(args)
        .output()
        .unwrap()
}

/// All that a command printed, stdout then stderr.
fn printed(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The reviewer's case: an `llm:` judge given `--judge-max-tokens 100000`
/// failed saying "the model takes no --max-tokens 100000", a flag of the
/// run's target, which the user would change to no effect. The judge's
/// flag is named.
#[test]
fn a_judges_refused_token_limit_names_the_judges_flag() {
    let env = Env::new();
    let judge = TestServer::start(|_| Reply::status(400, TOO_MANY_TOKENS));
    let url = format!("{}/v1", judge.url());
    let answers = env.write("answers.csv", ANSWERS);
    let out = xsafe(
        &env,
        &[
            "judge",
            answers.to_str().unwrap(),
            "--judge",
            "llm:openai:judge-model",
            "--judge-base-url",
            &url,
            "--judge-max-tokens",
            "100000",
        ],
    );
    let said = printed(&out);
    assert!(
        said.contains(
            "(the model takes no --judge-max-tokens 100000: give a smaller one, at most the \
             limit the message names)"
        ),
        "{said}"
    );
    assert!(!said.contains("no --max-tokens"), "{said}");
    assert_eq!(judge.request_count(), 1, "not sent again");
}

/// A targets file's `max_tokens` is named as its field, with the file and
/// the target, in the run's summary of its failures; the advice after it
/// defers to the message rather than naming `--max-tokens` (the bug this
/// guards: it said "a smaller --max-tokens" whoever gave the value).
#[test]
fn a_targets_files_refused_token_limit_names_its_field() {
    let env = Env::new();
    let server = TestServer::start(|_| Reply::status(400, TOO_MANY_TOKENS));
    let targets = env.write(
        "targets.toml",
        format!(
            "[targets.big]\nmodel = \"m\"\nbase_url = \"{}/v1\"\nmax_tokens = 100000\n",
            server.url()
        ),
    );
    let suite = env.write("small.csv", SMALL_SUITE);
    let out = xsafe(
        &env,
        &[
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--targets",
            targets.to_str().unwrap(),
            "--target",
            "big",
            "--judge",
            "strmatch",
        ],
    );
    let said = printed(&out);
    assert!(
        said.contains(&format!(
            "(the model takes no max_tokens 100000, given as `max_tokens` of target `big` in \
             the targets file `{}`: give a smaller one there, at most the limit the message \
             names)",
            targets.display()
        )),
        "{said}"
    );
    assert!(!said.contains("no --max-tokens"), "{said}");
    assert!(
        said.contains(
            "the target's setup failed on them (kind `config`) as it will on every try: change \
             what the message names, where it says it was given (a flag, or a target's field in \
             its targets file), then run the same command again"
        ) && !said.contains("--max-tokens)")
            && !said.contains("--context"),
        "{said}"
    );
}

/// The reviewer's case: `--header 'api-key: ...'` for Azure OpenAI sent
/// the user's `OPENAI_API_KEY` to Azure's host as `Authorization: Bearer`
/// too. The header alone goes now: for a run's target, for an `llm:`
/// judge's (`--judge-header`) and for a targets file's; `--api-key-env`
/// named on purpose sends the key beside it, as asked.
#[test]
fn a_credential_header_is_sent_without_the_openai_key() {
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    let judge = TestServer::start(|_| Reply::chat("1_full_compliance"));
    let suite = env.write("small.csv", SMALL_SUITE);
    let (model_url, judge_url) = (format!("{}/v1", model.url()), format!("{}/v1", judge.url()));
    let out = xsafe(
        &env,
        &[
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            "openai:m",
            "--base-url",
            &model_url,
            "--header",
            "api-key: az-target-0123456789",
            "--judge",
            "llm:openai:j",
            "--judge-base-url",
            &judge_url,
            "--judge-header",
            "x-api-key: az-judge-0123456789",
        ],
    );
    assert!(out.status.success(), "{}", printed(&out));
    for (server, header, value) in [
        (&model, "api-key", "az-target-0123456789"),
        (&judge, "x-api-key", "az-judge-0123456789"),
    ] {
        let requests = server.requests();
        assert!(!requests.is_empty());
        for r in requests {
            assert_eq!(r.header(header), Some(value));
            assert_eq!(r.header("authorization"), None, "{header}: {r:?}");
        }
    }

    // A targets file's header: the same; a variable it names is sent
    // beside it.
    let targets = env.write(
        "targets.toml",
        format!(
            "[targets.azure]\nmodel = \"m\"\nbase_url = \"{model_url}\"\nheaders = \
             [\"api-key: az-file-0123456789\"]\n\n[targets.gateway]\nmodel = \"m\"\nbase_url = \
             \"{model_url}\"\napi_key_env = \"OPENAI_API_KEY\"\nheaders = [\"x-gateway-key: \
             gw-0123456789\"]\n"
        ),
    );
    for (target, header, value, authorization) in [
        ("azure", "api-key", "az-file-0123456789", None),
        (
            "gateway",
            "x-gateway-key",
            "gw-0123456789",
            Some(format!("Bearer {OPENAI_KEY}")),
        ),
    ] {
        let before = model.request_count();
        let out = xsafe(
            &env,
            &[
                "run",
                "--suite",
                suite.to_str().unwrap(),
                "--targets",
                targets.to_str().unwrap(),
                "--target",
                target,
                "--judge",
                "strmatch",
            ],
        );
        assert!(out.status.success(), "{target}: {}", printed(&out));
        let requests = model.requests();
        assert!(requests.len() > before, "{target}");
        for r in &requests[before..] {
            assert_eq!(r.header(header), Some(value), "{target}");
            assert_eq!(
                r.header("authorization"),
                authorization.as_deref(),
                "{target}"
            );
        }
    }
}

/// A key variable named beside an `Authorization` header would be a
/// second `Authorization`: refused before any request, naming both.
#[test]
fn a_key_variable_beside_an_authorization_header_is_refused() {
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    let url = format!("{}/v1", model.url());
    let suite = env.write("small.csv", SMALL_SUITE);
    let out = xsafe(
        &env,
        &[
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            "openai:m",
            "--base-url",
            &url,
            "--api-key-env",
            "OPENAI_API_KEY",
            "--header",
            "Authorization: Bearer own-0123456789",
            "--judge",
            "strmatch",
        ],
    );
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains(
            "the API key variable `OPENAI_API_KEY` (named by --api-key-env) and the \
             `Authorization` header given with --header would both be sent as the \
             `Authorization` header: give one of them (leave out --api-key-env to send the \
             header alone)"
        ),
        "{said}"
    );
    // The flag's variable is named as such.
    let out = env
        .cmd()
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("XSAFE_API_KEY_ENV", "OPENAI_API_KEY")
        .args([
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            "openai:m",
            "--base-url",
            &url,
            "--header",
            "Authorization: Bearer own-0123456789",
            "--judge",
            "strmatch",
        ])
        .output()
        .unwrap();
    let said = printed(&out);
    assert!(
        said.contains(
            "(named by XSAFE_API_KEY_ENV (the variable of --api-key-env)) and the \
             `Authorization` header"
        ),
        "{said}"
    );
    assert_eq!(model.request_count(), 0);
}

/// The reviewer's case: of two replicas, one refused the key, and the run
/// stopped without saying which. The stop names it.
#[test]
fn a_replica_that_refuses_the_key_is_named_where_the_run_stops() {
    let env = Env::new();
    let refusing = TestServer::start(|_| {
        Reply::status(401, r#"{"error":{"message":"Incorrect API key provided"}}"#)
    });
    let healthy = TestServer::start(keyword_model);
    let suite = env.write("small.csv", SMALL_SUITE);
    let urls = format!("{}/v1,{}/v1", refusing.url(), healthy.url());
    let out = xsafe(
        &env,
        &[
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            "openai:m",
            "--base-url",
            &urls,
            "--concurrency",
            "1",
            "--judge",
            "strmatch",
        ],
    );
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains(&format!(
            "HTTP 401: the replica {}/v1 answered: Incorrect API key provided",
            refusing.url()
        )),
        "{said}"
    );
}
