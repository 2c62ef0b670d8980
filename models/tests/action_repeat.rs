//! Episodes as a model with an action repeat sees them: blocks of held
//! actions, and the pieces of a real-time episode where a late command
//! changed the action inside a block.

use umwelt_models::dataset::{DatasetError, Episode};

/// An episode of `len` steps, 2 observation values and 1 action value,
/// whose action is held over blocks of `hold` steps.
fn held_episode(len: usize, hold: usize) -> Episode {
    Episode {
        seed: 9,
        observations: (0..(len + 1) * 2).map(|i| i as f32).collect(),
        actions: (0..len).map(|t| (t / hold) as f32 * 0.25 - 0.5).collect(),
        rewards: (0..len).map(|t| 1.0 + t as f32).collect(),
        terminated: true,
        truncated: false,
        success: true,
        frames: None,
    }
}

#[test]
fn action_repeat_blocks_sum_rewards_and_keep_block_starts() {
    let e = held_episode(7, 2);
    let b = e.with_action_repeat(2).expect("held in blocks of 2");
    // 3 whole blocks; the 7th step is a partial block and is dropped.
    assert_eq!(b.len(), 3);
    assert_eq!(b.rewards, vec![1.0 + 2.0, 3.0 + 4.0, 5.0 + 6.0]);
    assert_eq!(
        b.actions,
        vec![e.action(0)[0], e.action(2)[0], e.action(4)[0]]
    );
    for k in 0..=3 {
        assert_eq!(b.obs(k), e.obs(2 * k), "block {k}");
    }
    // Cut short, it no longer ends by the task's logic; the rest is kept.
    assert!(!b.terminated && b.success && b.seed == 9);
    b.validate(2, 1).expect("a valid episode");
    // An even length keeps the end flag; repeat 1 is the episode itself.
    assert!(held_episode(6, 2).with_action_repeat(2).unwrap().terminated);
    assert_eq!(e.with_action_repeat(1).unwrap(), e);
}

#[test]
fn action_repeat_refuses_actions_that_change_inside_a_block() {
    let e = held_episode(8, 1);
    let err = e.with_action_repeat(2).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DatasetError::InvalidEpisode { seed: 9, .. }));
    assert!(
        msg.contains("step 1") && msg.contains("repeat of 2"),
        "{msg}"
    );
    assert!(e.with_action_repeat(0).is_err());
    // Held in blocks of 4, it splits into blocks of 2 as well.
    let e4 = held_episode(8, 4);
    assert_eq!(e4.with_action_repeat(2).unwrap().len(), 4);
    assert_eq!(e4.with_action_repeat(4).unwrap().len(), 2);
}

#[test]
fn a_late_command_drops_only_its_block_and_the_rest_stays_learnable() {
    // Held in blocks of 2, but step 5 kept the action of steps 2-3 (a
    // command that came late), and step 8 that of steps 6-7.
    let mut e = held_episode(11, 2);
    e.actions[5] = e.actions[3];
    e.actions[8] = e.actions[7];
    let (pieces, dropped) = e.split_held(2);
    // Blocks 0-1 | mixed 2 (steps 4-5) | block 3 | mixed 4 (steps 8-9) |
    // step 10, a partial block too short to stand alone.
    assert_eq!(dropped, 2);
    assert_eq!(pieces.len(), 2);
    let (a, b) = (&pieces[0], &pieces[1]);
    assert_eq!((a.len(), b.len()), (4, 2));
    assert_eq!(a.obs(0), e.obs(0));
    assert_eq!(a.obs(4), e.obs(4));
    assert_eq!(b.obs(0), e.obs(6));
    assert_eq!(b.obs(2), e.obs(8));
    assert_eq!(b.rewards, e.rewards[6..8]);
    // Neither ends where the episode did: both are truncated pieces.
    for p in &pieces {
        assert!(p.truncated && !p.terminated && !p.success && p.seed == 9);
        p.validate(2, 1).expect("a valid episode");
        p.with_action_repeat(2).expect("every block held");
    }
    // The last piece keeps the episode's end when it reaches it.
    let mut f = held_episode(8, 2);
    f.actions[1] = 3.0;
    let (pieces, dropped) = f.split_held(2);
    assert_eq!((dropped, pieces.len()), (1, 1));
    assert_eq!(pieces[0].len(), 6);
    assert!(pieces[0].terminated && pieces[0].success);
    // Nothing to drop: the episode itself.
    let g = held_episode(7, 2);
    assert_eq!(g.split_held(2), (vec![g.clone()], 0));
    assert_eq!(g.split_held(1), (vec![g.clone()], 0));
}
