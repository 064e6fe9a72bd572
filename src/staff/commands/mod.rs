//! Staff commands: parsed once into [`Command`], each carried out by a small handler in
//! this folder (lists, a lead's card and notes, cars). Every handler works inside the
//! update's transaction and returns the answer to post, if any; the caller posts it and
//! commits. `/photo` (a caption) and flow files are read by their own rooms.

mod ai;
mod cars;
mod lead;
mod lists;
mod reviews;
mod shift;
mod task;
mod team;

pub use reviews::MIN_TALK_S as MIN_REVIEW_TALK_S;

use crate::channels::telegram::StaffMessage;
use crate::context::App;
use crate::domain::LeadId;
use crate::store::{self, StoreError, UserRow};

/// A staff command, as typed (`/name args`, with or without `@botname`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/help`, `/start`
    Help,
    /// `/flows [rollback N]` (admins)
    Flows(String),
    /// `/my`: my open leads
    My,
    /// `/queue`: unclaimed leads
    Queue,
    /// `/lead N`: re-post a lead's card
    Lead(String),
    /// `/note text`: an internal note on the topic's lead
    Note(String),
    /// `/vehicle VIN`: a car's card
    Vehicle(String),
    /// `/car words`: find cars to attach to the topic's lead
    Car(String),
    /// `/tasks [all]`: my open tasks (supervisors: everyone's)
    Tasks(String),
    /// `/task [@name] <when> <what>`: a task on the topic's lead
    Task(String),
    /// `/shift on|off`: on or off shift for the rest of the day
    Shift(String),
    /// `/team`: each manager's shift, load and first responses (supervisors)
    Team,
    /// `/reviews`: calls waiting for review (supervisors, admins)
    Reviews,
    /// `/myscore`: my call reviews of the last 30 days
    MyScore,
    /// `/report`: a sign-in link to the reporting page, sent privately
    Report,
    /// `/ai`: what AI is doing (supervisors, admins; only with AI configured)
    Ai,
    /// Anything else starting with `/`.
    Unknown(String),
}

impl Command {
    /// `None` when the text is not a command.
    pub fn parse(text: &str) -> Option<Command> {
        let rest = text.trim().strip_prefix('/')?;
        let (head, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let name = head.split('@').next().unwrap_or(head).to_ascii_lowercase();
        let args = args.trim().to_string();
        Some(match name.as_str() {
            "help" | "start" => Command::Help,
            "flows" => Command::Flows(args),
            "my" => Command::My,
            "queue" => Command::Queue,
            "lead" => Command::Lead(args),
            "note" => Command::Note(args),
            "vehicle" => Command::Vehicle(args),
            "car" => Command::Car(args),
            "tasks" => Command::Tasks(args),
            "task" => Command::Task(args),
            "shift" => Command::Shift(args),
            "team" => Command::Team,
            "reviews" => Command::Reviews,
            "myscore" => Command::MyScore,
            "report" | "reports" => Command::Report,
            "ai" => Command::Ai,
            _ => Command::Unknown(name),
        })
    }
}

/// What a command handler needs.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub tx: &'a mut store::Conn,
    pub m: &'a StaffMessage,
    pub user: &'a UserRow,
    /// The lead whose topic the command was written in.
    pub lead: Option<LeadId>,
    pub now: i64,
}

impl Ctx<'_> {
    pub fn render(&self, name: &str, ctx: minijinja::Value) -> String {
        self.app.templates.render(name, ctx).unwrap_or_else(|e| {
            tracing::error!(error = %e, "template failed");
            String::from("…")
        })
    }
}

/// Carry out a command; returns the answer to post in the chat. `/flows` was answered
/// before the transaction (it may activate a version): `flows` is that answer.
pub async fn run(c: &mut Ctx<'_>, command: Command, flows: Option<String>) -> Result<Option<String>, StoreError> {
    match command {
        Command::Help => Ok(Some(c.render("staff/help.txt", minijinja::context! { ai => c.app.ai.is_some() }))),
        Command::Flows(_) => Ok(flows),
        Command::My => lists::open_leads(c.app, Some(c.user.id), "staff/my.txt").await.map(Some),
        Command::Queue => lists::queue(c.app).await.map(Some),
        Command::Tasks(args) => lists::tasks(c.app, c.user, &args).await.map(Some),
        Command::Task(args) => task::create(c, &args).await,
        Command::Shift(args) => shift::shift(c, &args).await,
        Command::Team => team::team(c).await,
        Command::Reviews => reviews::waiting(c).await,
        Command::MyScore => reviews::my_score(c).await,
        Command::Ai => ai::status(c).await,
        Command::Report => crate::staff::report::asked(c.app, c.tx, c.user, c.m.chat, c.now).await,
        Command::Lead(args) => lead::repost_card(c, &args).await,
        Command::Note(text) => lead::note(c, &text).await,
        Command::Vehicle(args) => cars::vehicle_card(c, &args).await.map(Some),
        Command::Car(args) => cars::find(c, &args).await,
        Command::Unknown(name) => {
            Ok(Some(c.render("staff/unknown_command.txt", minijinja::context! { command => format!("/{name}") })))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Command;

    #[test]
    fn commands_are_read_with_or_without_the_bot_name() {
        assert_eq!(Command::parse("/lead 12"), Some(Command::Lead("12".into())));
        assert_eq!(Command::parse("/My@forecourt_bot"), Some(Command::My));
        assert_eq!(Command::parse("/note  call after 18:00 "), Some(Command::Note("call after 18:00".into())));
        assert_eq!(Command::parse("/start"), Some(Command::Help));
        assert_eq!(Command::parse("/teleport"), Some(Command::Unknown("teleport".into())));
        assert_eq!(Command::parse("hello /note"), None);
    }
}
