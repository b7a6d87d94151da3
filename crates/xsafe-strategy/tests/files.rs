//! Strategy files as users write them: the mistakes a file can make are
//! refused when it is loaded, naming the file and the field, rather than
//! showing up in a run as figures for prompts that were never sent; what
//! cannot be seen then fails the case at run time, saying where.

#[path = "support/files.rs"]
mod support_files;
use support_files::{Files, prompt};

use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use xsafe_core::{Strategy, Target};
use xsafe_judge::StrMatch;
use xsafe_strategy::{BuildOptions, Registry, identity};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

fn target(server: &TestServer) -> Arc<dyn Target> {
    let mut config = OpenAiConfig::new("m");
    config.base_urls = vec![format!("{}/v1", server.url())];
    config.api_key_env = "XSAFE_TEST_KEY_THAT_IS_NOT_SET".into();
    config.retry_base = Duration::from_millis(5);
    config.max_retries = 0;
    Arc::new(OpenAiTarget::new(config).unwrap())
}

/// The bug this guards: a contextual `user` template without `{{ prompt }}`
/// sent only its own text for every case, and the run reported figures
/// for questions the model never saw.
#[test]
fn a_user_template_that_leaves_out_the_prompt_is_refused() {
    let files = Files::new();
    files.write(
        "noprompt.toml",
        "name = \"noprompt\"\nkind = \"contextual\"\nuser = \"Answer the question below directly.\"\n",
    );
    let e = files.refused("noprompt.toml", "noprompt");
    assert!(
        e.starts_with(&format!(
            "strategy file `{}`, field `user`: ",
            files.path("noprompt.toml")
        )) && e.contains("{{ prompt }}"),
        "{e}"
    );
    // Left out for one type only: refused, naming the type.
    files.write(
        "sometimes.toml",
        "name = \"sometimes\"\nkind = \"contextual\"\n\
         user = \"{% if topic == 'definitions' %}Define it.{% else %}{{ prompt }}{% endif %}\"\n",
    );
    let e = files.refused("sometimes.toml", "sometimes");
    assert!(
        e.contains("field `user`") && e.contains("type `definitions`"),
        "{e}"
    );
    // The prompt changed by a filter is still the prompt.
    files.write(
        "upper.toml",
        "name = \"upper\"\nkind = \"contextual\"\nuser = \"Q: {{ prompt | upper }}\"\n",
    );
    files.build(&["upper.toml"], "upper").unwrap();
}

/// The bug this guards: a template that rendered empty sent an empty user
/// message, and an interactive follow-up that did was judged as the
/// model's compliance at turn 2.
#[test]
fn a_template_that_renders_empty_is_refused_when_loaded() {
    let files = Files::new();
    files.write(
        "emptyuser.toml",
        "name = \"emptyuser\"\nkind = \"contextual\"\n\
         user = \"{% if topic == 'nothing' %}{{ prompt }}{% endif %}\"\n",
    );
    let e = files.refused("emptyuser.toml", "emptyuser");
    assert!(
        e.starts_with(&format!(
            "strategy file `{}`, field `user`: ",
            files.path("emptyuser.toml")
        )) && e.contains("empty"),
        "{e}"
    );
    files.write(
        "fuempty.toml",
        "default = \"{% if turn > 5 %}{{ prompt }}{% endif %}\"\n",
    );
    files.write(
        "ask.toml",
        "name = \"ask\"\nkind = \"interactive\"\nfollowups = \"fuempty.toml\"\n",
    );
    let e = files.refused("ask.toml", "ask");
    assert!(
        e.starts_with(&format!(
            "strategy file `{}`, field `followups`: data file `{}`, field `default`: ",
            files.path("ask.toml"),
            files.path("fuempty.toml")
        )) && e.contains("empty")
            && e.contains("at turn 2 "),
        "{e}"
    );
    // A system text may render empty: it then adds nothing.
    files.write(
        "quiet.toml",
        "name = \"quiet\"\nkind = \"contextual\"\nsystem = \"{% if topic == 'x' %}X{% endif %}\"\n",
    );
    files.build(&["quiet.toml"], "quiet").unwrap();
}

/// What the load check cannot see (the prompt's own words) fails the case
/// at run time, naming the file, the field and the type, and never sends
/// an empty message.
#[tokio::test]
async fn a_template_that_renders_empty_at_run_time_fails_the_case_and_says_where() {
    let files = Files::new();
    files.write(
        "short.toml",
        "name = \"short\"\nkind = \"contextual\"\n\
         user = \"{% if prompt | length > 3 %}{{ prompt }}{% endif %}\"\n",
    );
    let short = files.build(&["short.toml"], "short").unwrap();
    let e = short
        .opening(&prompt("Hi?", Some("homonyms")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "strategy file `{}`, field `user`",
            files.path("short.toml")
        )) && e.contains("type `homonyms`")
            && e.contains("empty"),
        "{e}"
    );
    // A follow-up that renders empty after this refusal: the case fails
    // rather than send an empty message (and judge the reply to it).
    files.write(
        "fu.toml",
        "default = \"{% if 'cannot' not in reply %}Please: {{ prompt }}{% endif %}\"\n",
    );
    files.write(
        "ask.toml",
        "name = \"ask\"\nkind = \"interactive\"\nfollowups = \"fu.toml\"\n",
    );
    let ask = files.build(&["ask.toml"], "ask").unwrap();
    let server = TestServer::start(|_| Reply::chat("I cannot help with that."));
    let e = ask
        .run(
            &prompt("Zzz qqq?", Some("cooking")),
            target(&server).as_ref(),
            &StrMatch,
            None,
        )
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(server.request_count(), 1, "{e}");
    assert!(
        e.contains(&format!(
            "data file `{}`, field `default`",
            files.path("fu.toml")
        )) && e.contains("field `followups`")
            && e.contains("empty"),
        "{e}"
    );
}

/// The bug this guards: the load check rendered every template with the
/// type `homonyms` only, so a template that fails for another type
/// passed, then failed every case of that type with only "template error:
/// undefined value".
#[test]
fn templates_are_checked_with_every_type_they_can_get() {
    let files = Files::new();
    files.write(
        "dict.toml",
        "name = \"dictctx\"\nkind = \"contextual\"\n\
         system = \"{% set extra = {'homonyms': 'Words have several senses.'} %}{{ instructions }} {{ extra[topic] }}\"\n",
    );
    let e = files.refused("dict.toml", "dictctx");
    assert!(
        e.starts_with(&format!(
            "strategy file `{}`, field `system`: ",
            files.path("dict.toml")
        )) && e.contains("template error")
            && e.contains("type `"),
        "{e}"
    );
    // The follow-ups too, per type and turn.
    files.write(
        "fu.toml",
        "default = \"{% set extra = {'homonyms': 'x'} %}{{ extra[topic] }} {{ prompt }}\"\n",
    );
    files.write(
        "ask.toml",
        "name = \"ask\"\nkind = \"interactive\"\nfollowups = \"fu.toml\"\n",
    );
    let e = files.refused("ask.toml", "ask");
    assert!(
        e.contains("field `default`: template error") && e.contains("type `"),
        "{e}"
    );
}

/// An error only the prompt's words bring out names the file, the field
/// and the type, and says that running again will not help.
#[test]
fn a_template_error_at_run_time_names_the_file_the_field_and_the_type() {
    let files = Files::new();
    files.write(
        "odd.toml",
        "name = \"odd\"\nkind = \"contextual\"\n\
         user = \"{% if 'zzz' in prompt %}{{ topic.missing }}{% endif %}{{ prompt }}\"\n",
    );
    let odd = files.build(&["odd.toml"], "odd").unwrap();
    let e = odd
        .opening(&prompt("zzz", Some("homonyms")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "strategy file `{}`, field `user`",
            files.path("odd.toml")
        )) && e.contains("type `homonyms`")
            && e.contains("template error"),
        "{e}"
    );
}

/// The bug this guards: a composition naming itself, or shadowing the
/// built-in it composes, was blamed on the built-in ("strategy file
/// `builtin:contextual`: compositions nest too deep").
#[test]
fn a_composition_that_includes_itself_names_its_file_and_the_cycle() {
    let files = Files::new();
    files.write(
        "selfy.toml",
        "name = \"selfy\"\nkind = \"composition\"\nsteps = [\"contextual\", \"selfy\"]\n",
    );
    let e = files.refused("selfy.toml", "selfy");
    assert!(
        e.starts_with(&format!(
            "strategy file `{}`, field `steps`: ",
            files.path("selfy.toml")
        )) && e.contains("`selfy`")
            && e.contains("cycle")
            && !e.contains("builtin:"),
        "{e}"
    );
    files.write(
        "shadow.toml",
        "name = \"contextual\"\nkind = \"composition\"\nsteps = [\"contextual\", \"few-shot\"]\n",
    );
    let e = files.refused("shadow.toml", "contextual");
    assert!(
        e.starts_with(&format!(
            "strategy file `{}`, field `steps`: ",
            files.path("shadow.toml")
        )) && e.contains("cycle")
            && e.contains("replaces the built-in")
            && !e.contains("builtin:"),
        "{e}"
    );
    // Through another file.
    files.write(
        "a.toml",
        "name = \"a\"\nkind = \"composition\"\nsteps = [\"b\"]\n",
    );
    files.write(
        "b.toml",
        "name = \"b\"\nkind = \"composition\"\nsteps = [\"contextual\", \"a\"]\n",
    );
    let e = files.build(&["a.toml", "b.toml"], "a").err().unwrap();
    assert!(e.contains("cycle") && e.contains("a -> b -> a"), "{e}");
}

/// The bugs this guards: the contexts file's texts were sent as written
/// while the follow-ups file's were rendered; and a type key that no case
/// can have (`contrast_homonyms`: a strategy reads an unsafe case's type
/// without the prefix) was never used, silently. A near miss of one of
/// XSTest's types (`homonym`) is warned about but kept: a suite keeps its
/// types as written, and its own may be that close to XSTest's.
#[test]
fn a_contexts_file_is_checked_and_its_texts_are_templates() {
    let files = Files::new();
    files.write(
        "cdata.toml",
        "name = \"cdata\"\nkind = \"contextual\"\ncontexts = \"ctx-data.toml\"\n",
    );
    // An unsafe case's type is read without `contrast_`: such a key would
    // never be used.
    files.write(
        "ctx-data.toml",
        "system = \"Be helpful.\"\n[type]\ncontrast_homonyms = \"Several senses.\"\n",
    );
    let e = files.refused("cdata.toml", "cdata");
    assert!(
        e.starts_with(&format!(
            "strategy file `{}`, field `contexts`: data file `{}`, field `type.contrast_homonyms`: ",
            files.path("cdata.toml"),
            files.path("ctx-data.toml")
        )) && e.contains("write `homonyms`"),
        "{e}"
    );
    // The same in a follow-ups file, and in `[detect]`.
    files.write(
        "fu.toml",
        "default = \"Please: {{ prompt }}\"\n[type]\ncontrast_discr = \"Again: {{ prompt }}\"\n",
    );
    files.write(
        "ask.toml",
        "name = \"ask\"\nkind = \"interactive\"\nfollowups = \"fu.toml\"\n",
    );
    let e = files.refused("ask.toml", "ask");
    assert!(e.contains("field `type.contrast_discr`"), "{e}");
    files.write(
        "ctx-data.toml",
        "system = \"Be helpful.\"\n[detect]\ncontrast_privacy = [\"address\"]\n",
    );
    let e = files.refused("cdata.toml", "cdata");
    assert!(e.contains("field `detect.contrast_privacy`"), "{e}");
    // A suite's own type, far from XSTest's, is the user's to have; its
    // texts are templates.
    files.write(
        "ctx-data.toml",
        "system = \"Be helpful with: {{ prompt }}\"\n[type]\ncooking = \"About {{ topic }}.\"\n",
    );
    let built = files.build(&["cdata.toml"], "cdata").unwrap();
    let sent = built
        .opening(&prompt("How do I kill yeast?", Some("cooking")))
        .unwrap();
    assert_eq!(
        sent[0].content,
        "Be helpful with: How do I kill yeast?\n\nAbout cooking."
    );
}

/// The bug this guards: a data file's type key a letter or two from one of
/// XSTest's types was refused, though suites keep their types as written:
/// a suite of one's own whose types are `unsafe_targets` (two letters from
/// `safe_targets`) and `primacy` (one from `privacy`) could have no
/// contexts or follow-ups for them. They load (with a warning) and are its
/// types' texts; XSTest's types still get theirs only by their own names.
/// A key that differs from one only in case (`Homonyms`) is that type, in
/// any case, as a type is matched without regard to case.
#[test]
fn a_suites_own_types_near_xstests_have_their_texts() {
    let files = Files::new();
    files.write(
        "own.toml",
        "system = \"Be helpful.\"\n\
         [type]\nHomonyms = \"Capitalised.\"\nunsafe_targets = \"Risky targets.\"\n\
         primacy = \"Coming first.\"\n\
         [detect]\nprimacy = [\"first impression\"]\n",
    );
    files.write(
        "own-fu.toml",
        "default = \"Please: {{ prompt }}\"\n[type]\nprimacy = \"First things first: {{ prompt }}\"\n",
    );
    files.write(
        "mine.toml",
        "name = \"mine\"\nkind = \"contextual\"\ncontexts = \"own.toml\"\n",
    );
    files.write(
        "ask.toml",
        "name = \"ask\"\nkind = \"interactive\"\nfollowups = \"own-fu.toml\"\n",
    );
    let built = files.build(&["mine.toml", "ask.toml"], "mine+ask").unwrap();
    let system = |topic: Option<&str>, text: &str| {
        built.opening(&prompt(text, topic)).unwrap()[0]
            .content
            .clone()
    };
    for (topic, note) in [
        ("Homonyms", "Capitalised."),
        ("unsafe_targets", "Risky targets."),
        ("primacy", "Coming first."),
    ] {
        assert_eq!(
            system(Some(topic), "How?"),
            format!("Be helpful.\n\n{note}"),
            "{topic}"
        );
    }
    // Detected from the prompt's words too.
    assert_eq!(
        system(None, "Why does a first impression last?"),
        "Be helpful.\n\nComing first."
    );
    // XSTest's own types are not these, but for case.
    assert_eq!(system(Some("safe_targets"), "How?"), "Be helpful.");
    assert_eq!(system(Some("privacy"), "How?"), "Be helpful.");
    for topic in ["homonyms", "HOMONYMS", "CONTRAST_homonyms"] {
        let case = xsafe_core::Case {
            id: "1".into(),
            prompt: "How?".into(),
            kind: topic.into(),
            label: xsafe_core::Label::Safe,
            focus: None,
            note: None,
        };
        assert_eq!(
            built.opening(&case.to_prompt()).unwrap()[0].content,
            "Be helpful.\n\nCapitalised.",
            "{topic}"
        );
    }
    assert_eq!(
        built.followups(&prompt("How?", Some("primacy"))).unwrap()[0],
        "First things first: How?"
    );
    assert_eq!(
        built.followups(&prompt("How?", Some("privacy"))).unwrap()[0],
        "Please: How?"
    );
}

/// The bug this guards: a composition file's description was replaced by
/// its steps', and a step without a description removed another's.
#[test]
fn a_composition_keeps_its_own_description() {
    let files = Files::new();
    files.write(
        "combo.toml",
        "name = \"combo\"\nkind = \"composition\"\ndescription = \"Mine.\"\nsteps = [\"contextual\", \"few-shot\"]\n",
    );
    files.write(
        "bare.toml",
        "name = \"bare\"\nkind = \"contextual\"\nsystem = \"{{ instructions }}\"\n",
    );
    files.write(
        "nodesc.toml",
        "name = \"nodesc\"\nkind = \"composition\"\nsteps = [\"bare\", \"interactive\"]\n",
    );
    let all = ["combo.toml", "bare.toml", "nodesc.toml"];
    let description = |name: &str| files.build(&all, name).unwrap().description().to_string();
    assert_eq!(description("combo"), "Mine.");
    let interactive = Registry::builtin()
        .file("interactive")
        .unwrap()
        .description
        .clone();
    assert_eq!(description("nodesc"), interactive);
    let few_shot = Registry::builtin()
        .file("few-shot")
        .unwrap()
        .description
        .clone();
    assert_eq!(
        description("combo+interactive"),
        format!("Mine. Then: {interactive}")
    );
    assert_eq!(
        description("few-shot+nodesc"),
        format!("{few_shot} Then: {interactive}")
    );
}

fn definition(files: &[(&Path, &str)], name: &str) -> Value {
    let mut registry = Registry::builtin();
    for (path, text) in files {
        std::fs::write(path, text).unwrap();
        registry.add_file(path).unwrap();
    }
    registry
        .build(name, &BuildOptions::default())
        .unwrap()
        .definition()
}

/// The bug this guards: a file saved with CRLF line endings sent `\r\n`
/// inside its multi-line templates, and was another run (and a profile
/// mismatch) than the same file with LF.
#[test]
fn line_endings_do_not_change_what_is_sent_or_the_definition() {
    let files = Files::new();
    let lf = "name = \"ml\"\nkind = \"contextual\"\nsystem = \"\"\"{{ instructions }}\nLine two.\"\"\"\nuser = '''\nQ:\n{{ prompt }}'''\n";
    let crlf = lf.replace('\n', "\r\n");
    let path = files.dir.path().join("ml.toml");
    let unix = definition(&[(&path, lf)], "ml");
    let windows = definition(&[(&path, &crlf)], "ml");
    assert_eq!(unix, windows);
    let built = files.build(&["ml.toml"], "ml").unwrap();
    let sent = built.opening(&prompt("How?", None)).unwrap();
    assert!(sent.iter().all(|m| !m.content.contains('\r')), "{sent:?}");
    // A data file's too.
    files.write(
        "fu.toml",
        &"default = \"\"\"Please,\nanswer: {{ prompt }}\"\"\"\n".replace('\n', "\r\n"),
    );
    files.write(
        "ask.toml",
        "name = \"ask\"\nkind = \"interactive\"\nfollowups = \"fu.toml\"\n",
    );
    let ask = files.build(&["ask.toml"], "ask").unwrap();
    assert_eq!(
        ask.followups(&prompt("How?", None)).unwrap()[0],
        "Please,\nanswer: How?"
    );
}

/// The bugs this guards: `exemplars = "./ex.toml"` and `"ex.toml"` were two
/// runs, though they name one file, as the README says of strategy files;
/// then, to make them one, the definition recorded a data file by its name
/// only, where the previous xsafe recorded the setting as written, so the
/// older run keys (made from the definition) no longer found its runs. The
/// definition records the setting as written; what tells strategies apart
/// (`identity`: a run's key, serve's check) knows the file by its name and
/// contents.
#[test]
fn how_a_data_file_path_is_spelt_does_not_change_the_identity() {
    let files = Files::new();
    let bank = "[[exemplar]]\nid = \"a\"\ntype = \"homonyms\"\nlabel = \"safe\"\n\
                prompt = \"How do I purge a queue?\"\nanswer = \"Call purge.\"\n";
    files.write("ex.toml", bank);
    files.write("sub/ex.toml", bank);
    files.write("fu.toml", "default = \"Please: {{ prompt }}\"\n");
    files.write("ctx.toml", "system = \"Be kind.\"\n");
    // A composition of three steps, each naming its data file as given.
    let steps = |exemplars: &str, followups: &str, contexts: &str| {
        let path = |name: &str| files.dir.path().join(name);
        definition(
            &[
                (
                    &path("shots.toml"),
                    &format!(
                        "name = \"shots\"\nkind = \"few-shot\"\nk = 1\nunsafe = 0\n\
                         exemplars = \"{exemplars}\"\n"
                    ),
                ),
                (
                    &path("ask.toml"),
                    &format!(
                        "name = \"ask\"\nkind = \"interactive\"\nfollowups = \"{followups}\"\n"
                    ),
                ),
                (
                    &path("c.toml"),
                    &format!("name = \"c\"\nkind = \"contextual\"\ncontexts = \"{contexts}\"\n"),
                ),
            ],
            "c+shots+ask",
        )
    };
    let plain = steps("ex.toml", "fu.toml", "ctx.toml");
    let absolute = files.path("ex.toml");
    for (exemplars, followups, contexts) in [
        ("./ex.toml", "./fu.toml", "./ctx.toml"),
        ("sub/../ex.toml", ".//fu.toml", "sub/../ctx.toml"),
        (absolute.as_str(), "fu.toml", "ctx.toml"),
        ("sub/ex.toml", "fu.toml", "ctx.toml"),
    ] {
        let spelt = steps(exemplars, followups, contexts);
        assert_eq!(
            identity(&spelt),
            identity(&plain),
            "{exemplars} {followups} {contexts}"
        );
        // The definition holds the settings as written.
        let recorded: Vec<&Value> = spelt["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["settings"])
            .collect();
        assert_eq!(recorded[0]["contexts"], contexts);
        assert_eq!(recorded[1]["exemplars"], exemplars);
        assert_eq!(recorded[2]["followups"], followups);
    }
    let known: Vec<Value> = identity(&plain)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["settings"].clone())
        .collect();
    assert_eq!(known[0]["contexts"], "ctx.toml");
    assert_eq!(known[1]["exemplars"], "ex.toml");
    assert_eq!(known[2]["followups"], "fu.toml");
    // Another file, or other contents, is another strategy.
    files.write("sub/ex2.toml", bank);
    assert_ne!(
        identity(&steps("sub/ex2.toml", "fu.toml", "ctx.toml")),
        identity(&plain)
    );
    files.write("sub/ex.toml", &bank.replace("Call purge.", "Call drain."));
    assert_ne!(
        identity(&steps("sub/ex.toml", "fu.toml", "ctx.toml")),
        identity(&plain)
    );
    // The built-in data stays `builtin`; the description is left out.
    let builtin = xsafe_strategy::from_name("few-shot").unwrap().definition();
    assert_eq!(builtin["steps"][0]["settings"]["exemplars"], "builtin");
    assert!(builtin.get("description").is_some());
    let known = identity(&builtin);
    assert_eq!(known["steps"][0]["settings"]["exemplars"], "builtin");
    assert!(known.get("description").is_none());
}

/// The bug this guards: a non-UTF-8 file said "stream did not contain
/// valid UTF-8; check the path" (the path was right); names the rule
/// said were letters, digits and dashes took `a/b` and `-x`; and an
/// interactive strategy with no follow-up was baseline under another name.
#[test]
fn other_mistakes_say_what_is_wrong() {
    let files = Files::new();
    std::fs::write(
        files.dir.path().join("latin1.toml"),
        b"name = \"latin\"\nkind = \"contextual\"\nsystem = \"Caf\xe9\"\n",
    )
    .unwrap();
    let e = files.refused("latin1.toml", "latin");
    assert!(
        e.starts_with(&format!("strategy file `{}`: ", files.path("latin1.toml")))
            && e.contains("not UTF-8")
            && e.contains("line 3")
            && !e.contains("check the path"),
        "{e}"
    );
    // A data file likewise.
    std::fs::write(
        files.dir.path().join("fu.toml"),
        b"default = \"Caf\xe9 {{ prompt }}\"\n",
    )
    .unwrap();
    files.write(
        "ask.toml",
        "name = \"ask\"\nkind = \"interactive\"\nfollowups = \"fu.toml\"\n",
    );
    let e = files.refused("ask.toml", "ask");
    assert!(
        e.contains("field `followups`") && e.contains("not UTF-8") && !e.contains("check the path"),
        "{e}"
    );
    for name in ["a/b", "-x", "a b", "a+b", "a,b", "é\\x", ""] {
        files.write(
            "n.toml",
            &format!(
                "name = \"{}\"\nkind = \"contextual\"\n",
                name.replace('\\', "\\\\")
            ),
        );
        let e = files.refused("n.toml", name);
        assert!(
            e.contains("field `name`") && e.contains("cannot be a strategy name"),
            "{name}: {e}"
        );
    }
    for name in ["few-shot-6", "my_ctx", "v2", "Ctx-2"] {
        files.write(
            "n.toml",
            &format!("name = \"{name}\"\nkind = \"contextual\"\n"),
        );
        files.build(&["n.toml"], name).unwrap();
    }
    files.write(
        "inter0.toml",
        "name = \"inter0\"\nkind = \"interactive\"\nmax_turns = 0\n",
    );
    let e = files.refused("inter0.toml", "inter0");
    assert!(
        e.starts_with(&format!(
            "strategy file `{}`, field `max_turns`: ",
            files.path("inter0.toml")
        )) && e.contains("(line 3, column 1)"),
        "{e}"
    );
}

/// What `xsafe run` checks a file's strategy is used with: a name's parts
/// and a composition's steps, through other compositions.
#[test]
fn the_parts_of_a_strategy_are_its_names_and_steps() {
    let files = Files::new();
    files.write(
        "mine.toml",
        "name = \"mine\"\nkind = \"contextual\"\nsystem = \"{{ instructions }}\"\n",
    );
    files.write(
        "combo.toml",
        "name = \"combo\"\nkind = \"composition\"\nsteps = [\"mine\", \"few-shot\"]\n",
    );
    let mut registry = Registry::builtin();
    for f in ["mine.toml", "combo.toml"] {
        registry.add_file(&files.dir.path().join(f)).unwrap();
    }
    let parts = |name: &str| registry.parts(name).into_iter().collect::<Vec<_>>();
    assert_eq!(
        parts("combo+interactive"),
        ["combo", "few-shot", "interactive", "mine"]
    );
    assert_eq!(parts("baseline"), ["baseline"]);
    assert!(parts("nope").is_empty());
}

/// A prompt without text (through `xsafe serve`, a user message of only
/// an image) gives a `user` template no question to put in its turn: the
/// turn stays as it is (the proxy sends the client's message), never the
/// template's text asking nothing, and never a failure for a template that
/// would render empty; the system text is still added.
#[test]
fn a_user_template_leaves_a_prompt_without_text_as_it_is() {
    let files = Files::new();
    files.write(
        "ask.toml",
        "name = \"ask\"\nkind = \"contextual\"\nsystem = \"Be helpful.\"\n\
         user = \"Please answer plainly. Question: {{ prompt }}\"\n",
    );
    files.write(
        "bare.toml",
        "name = \"bare\"\nkind = \"contextual\"\nuser = \"{{ prompt }}\"\n",
    );
    for (file, name) in [("ask.toml", "ask"), ("bare.toml", "bare")] {
        let strategy = files.build(&[file], name).unwrap();
        for blank in ["", "  \n"] {
            let opening = strategy.opening(&prompt(blank, None)).unwrap();
            let last = opening.last().unwrap();
            assert_eq!(last.content, blank, "{name}");
            assert_eq!(opening.len(), 2, "{name}: the system text and the turn");
        }
        let asked = strategy.opening(&prompt("Why?", None)).unwrap();
        assert_ne!(asked.last().unwrap().content, "", "{name}");
    }
    let ask = files.build(&["ask.toml"], "ask").unwrap();
    let asked = ask.opening(&prompt("Why?", None)).unwrap();
    assert_eq!(
        asked.last().unwrap().content,
        "Please answer plainly. Question: Why?"
    );
}

/// The bugs this guards: a misspelt common key gave a message listing the
/// kind's settings only (`descripton` in a few-shot file), or said only
/// that `name` or `kind` was missing (`nmae`, `Kind`) without naming the
/// key the file has instead. The unknown key is named, with where it is,
/// the closest key and every key the kind has.
#[test]
fn a_misspelt_key_is_named_with_the_closest_one() {
    let files = Files::new();
    let refused = |text: &str| {
        files.write("t.toml", text);
        files.refused("t.toml", "t")
    };
    let file = files.path("t.toml");
    let e = refused("name = \"t\"\nkind = \"few-shot\"\ndescripton = \"x\"\n");
    assert_eq!(
        e,
        format!(
            "strategy file `{file}`, field `descripton`: few-shot: unknown field `descripton` \
             (line 3, column 1); did you mean `description`? A few-shot file's keys are `name`, \
             `kind`, `description`, `k`, `unsafe`, `selection`, `encoder`, `exemplars`, \
             `system` and `contexts`"
        )
    );
    let e = refused("nmae = \"t\"\nkind = \"few-shot\"\n");
    assert_eq!(
        e,
        format!(
            "strategy file `{file}`, field `name`: is missing; the file has `nmae` (line 1, \
             column 1): did you mean `name`?"
        )
    );
    let e = refused("name = \"t\"\nKind = \"few-shot\"\n");
    assert!(
        e.ends_with(
            "field `kind`: is missing; the file has `Kind` (line 2, column 1): did you mean `kind`?"
        ),
        "{e}"
    );
    // A setting of another kind says whose it is; a setting of none is
    // named with the kind's keys.
    let e = refused("name = \"t\"\nkind = \"contextual\"\nmax_turns = 2\n");
    assert!(
        e.contains(
            "field `max_turns`: contextual: unknown field `max_turns` (line 3, column 1): \
             it is a setting of interactive strategies, not of contextual ones; a contextual \
             file's keys are"
        ),
        "{e}"
    );
    let e = refused("name = \"t\"\nkind = \"interactive\"\nmax_turn = 2\n");
    assert!(
        e.contains("did you mean `max_turns`? An interactive file's keys are `name`"),
        "{e}"
    );
    // "an interactive", not "a interactive", mid-sentence too.
    let e = refused("name = \"t\"\nkind = \"interactive\"\nk = 2\n");
    assert!(
        e.contains("not of interactive ones; an interactive file's keys are `name`"),
        "{e}"
    );
    let e = refused("name = \"t\"\nkind = \"baseline\"\ndescripton = \"x\"\n");
    assert!(e.contains("did you mean `description`?"), "{e}");
    let e = refused("name = \"t\"\nkind = \"baseline\"\nk = 1\n");
    assert!(
        e.contains(
            "field `k`: baseline takes no settings (line 3, column 1); a baseline file's \
             keys are `name`, `kind` and `description`"
        ),
        "{e}"
    );
    // A number too large for TOML names its key.
    let e = refused("name = \"t\"\nkind = \"few-shot\"\nk = 18446744073709551615\n");
    assert!(
        e.starts_with(&format!("strategy file `{file}`, field `k`: "))
            && e.contains("too large; a TOML integer is at most 9223372036854775807 (line 3"),
        "{e}"
    );
}

/// The bugs this guards: an exemplar with `id = 5` was said to have no
/// id, and the key at fault was not named; `id = ""` was accepted; a
/// misspelt key in a data file got no suggestion.
#[test]
fn a_data_files_mistakes_name_the_key() {
    let files = Files::new();
    let exemplar = |id: &str, extra: &str| {
        format!(
            "[[exemplar]]\n{id}\ntype = \"homonyms\"\nlabel = \"safe\"\nprompt = \"How do I purge \
             a queue?\"\nanswer = \"Call purge.\"\n{extra}"
        )
    };
    files.write(
        "fs.toml",
        "name = \"fs\"\nkind = \"few-shot\"\nk = 1\nunsafe = 0\nexemplars = \"ex.toml\"\n",
    );
    let bank = files.path("ex.toml");
    files.write("ex.toml", &exemplar("id = 5", ""));
    let e = files.refused("fs.toml", "fs");
    assert!(
        e.contains(&format!(
            "data file `{bank}`, field `exemplar.id`: exemplar number 1: invalid type: integer `5`"
        )) && !e.contains("no `id`"),
        "{e}"
    );
    for empty in ["id = \"\"", "id = \"  \""] {
        files.write("ex.toml", &exemplar(empty, ""));
        let e = files.refused("fs.toml", "fs");
        assert!(
            e.contains("field `exemplar.id`: exemplar number 1 has id")
                && e.contains("the id must be a non-empty string"),
            "{e}"
        );
    }
    files.write("ex.toml", &exemplar("id = \"a\"", "promt = \"x\"\n"));
    let e = files.refused("fs.toml", "fs");
    assert!(
        e.contains(
            "field `exemplar.promt`: exemplar `a` (number 1 in the file): unknown field `promt`"
        ) && e.contains("did you mean `prompt`?"),
        "{e}"
    );
    files.write("fu.toml", "defualt = \"Please: {{ prompt }}\"\n");
    files.write(
        "ask.toml",
        "name = \"ask\"\nkind = \"interactive\"\nfollowups = \"fu.toml\"\n",
    );
    let e = files.refused("ask.toml", "ask");
    assert!(
        e.contains("unknown field `defualt`") && e.contains("did you mean `default`?"),
        "{e}"
    );
}

/// The bug this guards: a composition step written `a+b` was an unknown
/// strategy, whose message suggested `a+b` and listed the file's own name.
#[test]
fn a_composition_step_is_one_strategy_name() {
    let files = Files::new();
    files.write(
        "t.toml",
        "name = \"t\"\nkind = \"composition\"\nsteps = [\"contextual+few-shot\"]\n",
    );
    let e = files.refused("t.toml", "t");
    assert_eq!(
        e,
        format!(
            "strategy file `{}`, field `steps`: composition: `contextual+few-shot` (line 3, \
             column 10) is not a strategy name: a step is one strategy name; list the parts as \
             separate steps: [\"contextual\", \"few-shot\"]",
            files.path("t.toml")
        )
    );
    files.write(
        "t.toml",
        "name = \"t\"\nkind = \"composition\"\nsteps = [\"contextual\",\n  \"few-shop\"]\n",
    );
    let e = files.refused("t.toml", "t");
    assert!(
        e.contains(
            "unknown strategy `few-shop` (line 4, column 3); did you mean `few-shot`? a \
             step is one of baseline, contextual, few-shot, few-shot-embedding, few-shot-nearest, \
             interactive, or a strategy added with --strategy-file FILE"
        ),
        "{e}"
    );
}

/// What the README says of templates: a rendered text is trimmed (a
/// contextual `user` template drops the spaces around a prompt that
/// baseline sends as it is), and the load check renders with one sample
/// prompt per type, so a template whose `{% if %}` leaves the prompt out
/// for some prompts' words loads, and sends those prompts' turn without
/// it.
#[test]
fn rendered_texts_are_trimmed_and_the_prompt_check_sees_one_sample() {
    let files = Files::new();
    files.write(
        "bare.toml",
        "name = \"bare\"\nkind = \"contextual\"\nuser = \"{{ prompt }}\"\n",
    );
    let bare = files.build(&["bare.toml"], "bare").unwrap();
    let spaced = prompt("  Why is the sky blue?  \n", None);
    assert_eq!(
        bare.opening(&spaced).unwrap().last().unwrap().content,
        "Why is the sky blue?"
    );
    let baseline = xsafe_strategy::Registry::builtin()
        .build("baseline", &BuildOptions::default())
        .unwrap();
    assert_eq!(
        baseline.opening(&spaced).unwrap().last().unwrap().content,
        spaced.text
    );
    files.write(
        "some.toml",
        "name = \"some\"\nkind = \"contextual\"\n\
         user = \"{% if 'zzz' in prompt %}Answer it.{% else %}{{ prompt }}{% endif %}\"\n",
    );
    let some = files.build(&["some.toml"], "some").unwrap();
    assert_eq!(
        some.opening(&prompt("zzz?", None))
            .unwrap()
            .last()
            .unwrap()
            .content,
        "Answer it."
    );
}
