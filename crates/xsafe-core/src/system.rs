//! A target's own system prompt, as it is sent with a strategy's messages.
//!
//! The `openai:` and `local:` targets send it with every request, and the
//! runner stores each conversation with it, both through
//! [`with_system_prompt`], so that what is stored, exported and judged is
//! what the model was sent.

use crate::{Message, Role, Transcript};

/// What goes between a target's system prompt and the strategy's system
/// text after it: a blank line.
pub const SYSTEM_PROMPT_JOIN: &str = "\n\n";

/// The messages as a target whose own system prompt is `system` sends
/// them: that prompt first, merged with a leading system message of
/// `messages` (`"{system}\n\n{strategy's system text}"`) rather than sent
/// as a second one, since many chat templates accept only one, or else as
/// a new system message before them. `None` leaves the messages as they
/// are.
pub fn with_system_prompt(system: Option<&str>, messages: &[Message]) -> Vec<Message> {
    let Some(system) = system else {
        return messages.to_vec();
    };
    let mut out = Vec::with_capacity(messages.len() + 1);
    match messages.split_first() {
        Some((first, rest)) if first.role == Role::System => {
            out.push(Message {
                content: format!("{system}{SYSTEM_PROMPT_JOIN}{}", first.content),
                ..first.clone()
            });
            out.extend_from_slice(rest);
        }
        _ => {
            out.push(Message::system(system));
            out.extend_from_slice(messages);
        }
    }
    out
}

/// A strategy's conversation as a target whose own system prompt is
/// `system` was sent it: its messages through [`with_system_prompt`], once
/// at the start whatever the number of turns (every request of the
/// conversation began with the same messages), and its `opening` counting
/// the system message added when the strategy sent none. `None` gives the
/// transcript back as it is.
pub fn transcript_with_system_prompt(system: Option<&str>, transcript: Transcript) -> Transcript {
    if system.is_none() {
        return transcript;
    }
    let messages = with_system_prompt(system, &transcript.messages);
    let added = (messages.len() - transcript.messages.len()) as u32;
    Transcript {
        messages,
        opening: transcript.opening.map(|n| n + added),
        ..transcript
    }
}

/// Whether `messages` begin as [`with_system_prompt`] makes them begin for
/// the system prompt `system`: with a system message that is `system`, or
/// `system` then a blank line and more. A conversation stored before the
/// target's system prompt was stored with it does not, unless the
/// strategy's own system text is the target's prompt or begins with it
/// and a blank line.
pub fn begins_with_system_prompt(system: &str, messages: &[Message]) -> bool {
    messages.first().is_some_and(|first| {
        first.role == Role::System
            && first
                .content
                .strip_prefix(system)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(SYSTEM_PROMPT_JOIN))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_prompt_is_merged_with_a_strategys_system_message() {
        let messages = vec![Message::system("be brief"), Message::user("hi")];
        assert_eq!(
            with_system_prompt(Some("you are helpful"), &messages),
            vec![
                Message::system("you are helpful\n\nbe brief"),
                Message::user("hi")
            ]
        );
        let plain = vec![Message::user("hi"), Message::assistant("hello")];
        assert_eq!(
            with_system_prompt(Some("sys"), &plain),
            vec![
                Message::system("sys"),
                Message::user("hi"),
                Message::assistant("hello")
            ]
        );
        assert_eq!(with_system_prompt(None, &messages), messages);
        // A system message later in the conversation is not the leading one.
        let later = vec![Message::user("hi"), Message::system("late")];
        assert_eq!(
            with_system_prompt(Some("sys"), &later)[..2],
            [Message::system("sys"), Message::user("hi")]
        );
        assert_eq!(
            with_system_prompt(Some("sys"), &[]),
            [Message::system("sys")]
        );
    }

    #[test]
    fn a_transcript_counts_the_system_message_added_to_its_opening() {
        let baseline = Transcript {
            messages: vec![
                Message::user("q"),
                Message::assistant("no"),
                Message::user("please"),
                Message::assistant("ok"),
            ],
            complied_at_turn: Some(2),
            opening: Some(1),
            ..Default::default()
        };
        let sent = transcript_with_system_prompt(Some("sys"), baseline.clone());
        assert_eq!(sent.messages[0], Message::system("sys"));
        assert_eq!(sent.messages[1..], baseline.messages[..]);
        assert_eq!(sent.opening, Some(2));
        assert_eq!((sent.turns(), sent.complied_at_turn), (2, Some(2)));
        assert!(begins_with_system_prompt("sys", &sent.messages));
        assert!(!begins_with_system_prompt("sys", &baseline.messages));

        let contextual = Transcript {
            messages: vec![
                Message::system("ctx"),
                Message::user("q"),
                Message::assistant("a"),
            ],
            opening: Some(2),
            ..Default::default()
        };
        let sent = transcript_with_system_prompt(Some("sys"), contextual.clone());
        assert_eq!(sent.messages[0], Message::system("sys\n\nctx"));
        assert_eq!((sent.messages.len(), sent.opening), (3, Some(2)));
        assert!(begins_with_system_prompt("sys", &sent.messages));
        assert!(!begins_with_system_prompt("sys", &contextual.messages));
        // Not a prefix of words: "system" does not begin with "sys" then a
        // blank line.
        assert!(!begins_with_system_prompt(
            "sys",
            &[Message::system("system")]
        ));
        assert_eq!(
            transcript_with_system_prompt(None, contextual.clone()),
            contextual
        );
    }
}
