//! Which action led from one recorded frame to the next: the pure rule
//! behind `umwelt collect --from-recording` ([`super::episodes`]).
//!
//! A driver of protocol version 2 says in each frame what it applied for
//! the step that led to it (`SensorFrame::applied`). The transition from
//! frame k to frame k+1 therefore takes its action from frame k+1, not from
//! the command that answered frame k: in real time an answer can reach the
//! driver after the step it was meant for (a *late* command), and the
//! driver then applied an earlier command still in force, or the safe
//! action. Importing the answer as if it had been applied would teach a
//! model dynamics that never happened.
//!
//! Frame k+1's `applied = Command(s)` names a command `seq`, which is only
//! unique per controller run (a restarted controller numbers from 1 again).
//! The command is looked up among those answering a frame of the same run
//! of frames (same episode, rising `seq`) at or before frame k, recorded
//! while the driver could still have accepted it; of several, the one
//! answering the latest frame wins, as a driver's own choice would.
//! Where the action is truly unknown the step is cut ([`CutReason`]).

use std::collections::HashMap;

use crate::wire::Applied;
use crate::wire::fresh::ANSWER_WINDOW_NS;

/// How far apart the recorder may hear two messages in the other order
/// than they were sent (they come over different links): a command is not
/// taken as an answer to a frame heard more than this after it.
pub const LINK_SKEW_NS: u64 = 100_000_000;

/// What the pairing needs of one recorded frame (repeats already merged).
#[derive(Clone, Debug, PartialEq)]
pub struct FrameRef {
    /// The frame's `seq`.
    pub seq: u64,
    /// What the driver says it applied for the step that led to it.
    pub applied: Applied,
    /// Its `episode` channel, if it has one.
    pub episode: Option<f32>,
    /// When the recorder first heard it (ns).
    pub first_log_ns: u64,
    /// When the recorder last heard it (a re-sent frame is heard again).
    pub last_log_ns: u64,
}

/// What the pairing needs of one recorded, valid command, in recording order.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandRef {
    /// The sender's `seq`.
    pub seq: u64,
    /// The frame it answers.
    pub answers_seq: u64,
    /// When the recorder heard it (ns).
    pub log_ns: u64,
    /// Its values, one per actuator.
    pub values: Vec<f32>,
}

/// Why the step between two frames of one episode is not imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CutReason {
    /// The `seq` jumped: frames between them were lost.
    FramesLost,
    /// The `seq` fell: the driver restarted.
    DriverRestarted,
    /// The later frame says nothing about what was applied (`applied =
    /// none`) although the episode goes on.
    AppliedNotSaid,
    /// The applied command is not among the recorded commands that answer
    /// an earlier frame of the episode.
    CommandNotRecorded,
    /// Two recorded commands fit the applied `seq` equally well but carry
    /// different values (two controllers at once?).
    AmbiguousCommand,
    /// Images are imported and a frame of the step lacks the camera's
    /// image, or has it at another size or encoding than the recording's
    /// first (decided by the importer, not by the pairing).
    ImageMissing,
}

impl CutReason {
    /// Every reason, in report order.
    pub const ALL: [CutReason; 6] = [
        CutReason::FramesLost,
        CutReason::DriverRestarted,
        CutReason::AppliedNotSaid,
        CutReason::CommandNotRecorded,
        CutReason::AmbiguousCommand,
        CutReason::ImageMissing,
    ];

    /// The reason's key in the import report (stable, snake_case).
    pub fn key(self) -> &'static str {
        match self {
            CutReason::FramesLost => "frames_lost",
            CutReason::DriverRestarted => "driver_restarted",
            CutReason::AppliedNotSaid => "applied_not_said",
            CutReason::CommandNotRecorded => "command_not_recorded",
            CutReason::AmbiguousCommand => "ambiguous_command",
            CutReason::ImageMissing => "image_missing",
        }
    }

    /// The reason in words, for people.
    pub fn describe(self) -> &'static str {
        match self {
            CutReason::FramesLost => "frames lost (seq jumped)",
            CutReason::DriverRestarted => "the driver restarted (seq fell)",
            CutReason::AppliedNotSaid => {
                "a frame says nothing was applied (applied = none) mid-episode"
            }
            CutReason::CommandNotRecorded => "the applied command is not in the recording",
            CutReason::AmbiguousCommand => {
                "two recorded commands with the applied seq and different values"
            }
            CutReason::ImageMissing => {
                "a frame lacks the camera's image (or has it at another size or encoding)"
            }
        }
    }
}

/// The action of an imported step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepAction {
    /// The command (index into the commands) that answered frame k itself.
    Answered(usize),
    /// A command that answered an earlier frame, still in force: the answer
    /// to frame k, if any, came too late.
    Held(usize),
    /// The robot's safe action.
    Safe,
}

/// What lies between frame k and frame k+1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Frame k+1 starts another episode: no step between them.
    Boundary,
    /// A step whose action is unknown.
    Cut(CutReason),
    /// A step with a known action.
    Step {
        /// The action applied.
        action: StepAction,
        /// Commands answering frame k that reached the driver too late for
        /// this step: not applied, and not replaced in time by a later
        /// answer to frame k that was.
        late: u64,
        /// Commands answering frame k that a later answer to it replaced
        /// before the step began.
        superseded: u64,
    },
}

/// The link between each frame and the next (`frames.len() - 1` of them).
pub fn links(frames: &[FrameRef], commands: &[CommandRef]) -> Vec<Link> {
    let mut by_seq: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut by_answer: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, c) in commands.iter().enumerate() {
        by_seq.entry(c.seq).or_default().push(i);
        by_answer.entry(c.answers_seq).or_default().push(i);
    }
    let mut out = Vec::with_capacity(frames.len().saturating_sub(1));
    // Index of the first frame of the current run (same episode, rising seq).
    let mut run_start = 0;
    for k in 0..frames.len().saturating_sub(1) {
        let (f, next) = (&frames[k], &frames[k + 1]);
        let link = if f.episode != next.episode {
            Link::Boundary
        } else if next.seq <= f.seq {
            Link::Cut(CutReason::DriverRestarted)
        } else if next.seq != f.seq + 1 {
            Link::Cut(CutReason::FramesLost)
        } else {
            step(&frames[run_start..=k], next, commands, &by_seq, &by_answer)
        };
        if matches!(link, Link::Boundary | Link::Cut(CutReason::DriverRestarted)) {
            run_start = k + 1;
        }
        out.push(link);
    }
    out
}

/// Whether `c` may answer `frame`: it names it, and the recorder heard it
/// while the driver could accept it (not before the frame, allowing for
/// link skew, nor past the answer window after its last send).
fn answers(c: &CommandRef, frame: &FrameRef) -> bool {
    c.answers_seq == frame.seq
        && c.log_ns.saturating_add(LINK_SKEW_NS) >= frame.first_log_ns
        && c.log_ns
            <= frame
                .last_log_ns
                .saturating_add(ANSWER_WINDOW_NS + LINK_SKEW_NS)
}

/// The step from the last frame of `run` (frame k, `run` being its run up
/// to it) to `next`, by what `next` says was applied.
fn step(
    run: &[FrameRef],
    next: &FrameRef,
    commands: &[CommandRef],
    by_seq: &HashMap<u64, Vec<usize>>,
    by_answer: &HashMap<u64, Vec<usize>>,
) -> Link {
    let Some(f) = run.last() else {
        return Link::Cut(CutReason::AppliedNotSaid);
    };
    let action = match next.applied {
        Applied::None | Applied::Reset(_) => return Link::Cut(CutReason::AppliedNotSaid),
        Applied::Safe => StepAction::Safe,
        Applied::Command(s) => match applied_command(run, s, commands, by_seq) {
            Ok((i, true)) => StepAction::Answered(i),
            Ok((i, false)) => StepAction::Held(i),
            Err(why) => return Link::Cut(why),
        },
    };
    // The answers to frame k, in recording order: those before the applied
    // one were replaced in time; any other was too late for this step.
    let (mut late, mut superseded) = (0, 0);
    for &i in by_answer.get(&f.seq).map_or(&[][..], Vec::as_slice) {
        if !answers(&commands[i], f) {
            continue;
        }
        match action {
            StepAction::Answered(a) if i < a => superseded += 1,
            StepAction::Answered(a) if i == a => {}
            _ => late += 1,
        }
    }
    Link::Step {
        action,
        late,
        superseded,
    }
}

/// The recorded command with `seq` that was in force, and whether it
/// answers the run's last frame: among the commands with that `seq`
/// answering a frame of `run`, the one answering the latest frame; of two
/// answering the same frame, the later recorded if their values agree.
fn applied_command(
    run: &[FrameRef],
    seq: u64,
    commands: &[CommandRef],
    by_seq: &HashMap<u64, Vec<usize>>,
) -> Result<(usize, bool), CutReason> {
    let mut best: Option<(usize, usize)> = None; // (frame index in run, command)
    let mut ambiguous = false;
    for &i in by_seq.get(&seq).map_or(&[][..], Vec::as_slice) {
        let c = &commands[i];
        // Seqs rise within a run, so a binary search finds the frame.
        let Ok(j) = run.binary_search_by_key(&c.answers_seq, |f| f.seq) else {
            continue;
        };
        if !answers(c, &run[j]) {
            continue;
        }
        match best {
            Some((bj, _)) if j < bj => {}
            Some((bj, bi)) if j == bj => {
                ambiguous |= commands[bi].values != c.values;
                best = Some((j, i));
            }
            _ => {
                ambiguous = false;
                best = Some((j, i));
            }
        }
    }
    match best {
        None => Err(CutReason::CommandNotRecorded),
        Some(_) if ambiguous => Err(CutReason::AmbiguousCommand),
        Some((j, i)) => Ok((i, j + 1 == run.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// Frames seq `first..` of episode 0, 10 ms apart, each saying `applied`.
    fn frames(first: u64, applied: &[Applied]) -> Vec<FrameRef> {
        applied
            .iter()
            .enumerate()
            .map(|(i, &a)| {
                let t = (first + i as u64) * 10 * MS;
                FrameRef {
                    seq: first + i as u64,
                    applied: a,
                    episode: Some(0.0),
                    first_log_ns: t,
                    last_log_ns: t,
                }
            })
            .collect()
    }

    /// Command `seq` answering frame `answers`, heard `after_ms` after it.
    fn cmd(seq: u64, answers: u64, after_ms: u64, value: f32) -> CommandRef {
        CommandRef {
            seq,
            answers_seq: answers,
            log_ns: answers * 10 * MS + after_ms * MS,
            values: vec![value],
        }
    }

    fn step(action: StepAction, late: u64, superseded: u64) -> Link {
        Link::Step {
            action,
            late,
            superseded,
        }
    }

    use Applied::{Command, None as NotSaid, Safe};
    use StepAction::{Answered, Held};

    #[test]
    fn on_time_answers_are_applied_as_answered() {
        let f = frames(1, &[NotSaid, Command(1), Command(2)]);
        let c = [cmd(1, 1, 1, 0.1), cmd(2, 2, 1, 0.2)];
        assert_eq!(
            links(&f, &c),
            [step(Answered(0), 0, 0), step(Answered(1), 0, 0)]
        );
    }

    #[test]
    fn a_late_answer_is_counted_and_the_held_command_imported() {
        // Frame 2's answer (seq 2) arrives after frame 3 was made: frame 3
        // reports command 1 still in force, frame 4 reports command 2.
        let f = frames(1, &[NotSaid, Command(1), Command(1), Command(2)]);
        let c = [cmd(1, 1, 1, 0.1), cmd(2, 2, 12, 0.2), cmd(3, 3, 1, 0.3)];
        assert_eq!(
            links(&f, &c),
            [
                step(Answered(0), 0, 0),
                step(Held(0), 1, 0),
                step(Held(1), 1, 0),
            ]
        );
    }

    #[test]
    fn safe_steps_are_known_and_a_superseded_answer_is_not_late() {
        let f = frames(1, &[NotSaid, Safe, Command(3)]);
        // Frame 1 answered too late: the driver held the safe action.
        // Frame 2 answered twice in time; the later answer wins.
        let c = [cmd(1, 1, 15, 0.1), cmd(2, 2, 1, 0.2), cmd(3, 2, 2, 0.3)];
        assert_eq!(
            links(&f, &c),
            [step(StepAction::Safe, 1, 0), step(Answered(2), 0, 1)]
        );
    }

    #[test]
    fn unknown_steps_are_cut_with_their_reason() {
        let mut f = frames(1, &[NotSaid, NotSaid, Command(9), Command(2), Safe]);
        f[4].seq = 7; // frames 5 and 6 lost
        let c = [cmd(2, 3, 1, 0.2)];
        assert_eq!(
            links(&f, &c),
            [
                Link::Cut(CutReason::AppliedNotSaid),
                Link::Cut(CutReason::CommandNotRecorded),
                step(Answered(0), 0, 0),
                Link::Cut(CutReason::FramesLost),
            ]
        );
        // The driver restarts: seq falls.
        let mut f = frames(5, &[NotSaid, Safe]);
        f[1].seq = 1;
        assert_eq!(links(&f, &[]), [Link::Cut(CutReason::DriverRestarted)]);
    }

    #[test]
    fn a_new_episode_is_a_boundary_not_a_cut() {
        let mut f = frames(1, &[NotSaid, Command(1), NotSaid, Command(2)]);
        f[2].episode = Some(1.0);
        f[3].episode = Some(1.0);
        let c = [cmd(1, 1, 1, 0.1), cmd(2, 3, 1, 0.3)];
        assert_eq!(
            links(&f, &c),
            [
                step(Answered(0), 0, 0),
                Link::Boundary,
                step(Answered(1), 0, 0)
            ]
        );
    }

    #[test]
    fn a_restarted_controllers_seq_is_matched_within_the_episode() {
        // Episode 0: the first controller's seq 1 and 2 answer frames 1, 2.
        // Episode 1 (frames 3-5): a restarted controller numbers from 1
        // again; frame 5 reports seq 1, which is the new one.
        let mut f = frames(1, &[NotSaid, Command(1), NotSaid, Command(9), Command(1)]);
        for x in &mut f[2..] {
            x.episode = Some(1.0);
        }
        let c = [
            cmd(1, 1, 1, 0.1),
            cmd(2, 2, 1, 0.2),
            cmd(1, 4, 1, 0.4),
            cmd(9, 3, 1, 0.3),
        ];
        assert_eq!(
            links(&f, &c),
            [
                step(Answered(0), 0, 0),
                Link::Boundary,
                step(Answered(3), 0, 0),
                step(Answered(2), 0, 0),
            ]
        );
        // Within one episode: the candidate answering the latest frame wins.
        let f = frames(1, &[NotSaid, Command(1), Command(1), Command(1)]);
        let c = [cmd(1, 1, 1, 0.1), cmd(1, 3, 1, 0.3)];
        assert_eq!(
            links(&f, &c),
            [
                step(Answered(0), 0, 0),
                step(Held(0), 0, 0),
                step(Answered(1), 0, 0)
            ]
        );
    }

    #[test]
    fn commands_from_another_time_or_ambiguous_ones_are_not_taken() {
        // A command naming frame 2 but heard 2 s later (a replay, or the
        // old run of a restarted driver) is no answer to it.
        let f = frames(1, &[NotSaid, Command(1), Command(2)]);
        let c = [cmd(1, 1, 1, 0.1), cmd(2, 2, 2_000, 0.2)];
        assert_eq!(
            links(&f, &c),
            [
                step(Answered(0), 0, 0),
                Link::Cut(CutReason::CommandNotRecorded)
            ]
        );
        // Two commands with the applied seq answering the same frame with
        // different values: unknown which. With equal values: either.
        let f = frames(1, &[NotSaid, Command(4)]);
        let c = [cmd(4, 1, 1, 0.1), cmd(4, 1, 2, 0.2)];
        assert_eq!(links(&f, &c), [Link::Cut(CutReason::AmbiguousCommand)]);
        let c = [cmd(4, 1, 1, 0.1), cmd(4, 1, 2, 0.1)];
        assert_eq!(links(&f, &c), [step(Answered(1), 0, 1)]);
    }

    #[test]
    fn every_reason_has_a_distinct_key() {
        let keys: std::collections::BTreeSet<_> = CutReason::ALL.iter().map(|r| r.key()).collect();
        assert_eq!(keys.len(), CutReason::ALL.len());
    }
}
