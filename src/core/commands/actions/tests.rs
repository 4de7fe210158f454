use super::*;
use proptest::prelude::*;

const DAY: u64 = 86_400_000;
const NOW: u64 = 1_800_000_000_000;

fn m(id: &str, len: u64, age_days: u64) -> Media {
    Media {
        media_id: id.to_owned(),
        media_length: len,
        created_ts: NOW - age_days * DAY,
        upload_name: None,
        quarantined: false,
    }
}

fn sample() -> Vec<Media> {
    vec![
        m("old-big", 5_000_000, 200),
        m("old-small", 1_000, 120),
        m("new-big", 8_000_000, 1),
        m("new-small", 10, 0),
        m("mid", 20_000_000, 90),
    ]
}

fn ids(media: &[Media]) -> Vec<&str> {
    media.iter().map(|m| m.media_id.as_str()).collect()
}

#[test]
fn filters_by_age_and_size() {
    let f = MediaFilter {
        older_than: Some(Duration::from_secs(90 * 86_400)),
        larger_than: None,
    };
    // 90 days old exactly counts as older than 90 days.
    assert_eq!(
        ids(&select(&sample(), &f, MediaOrder::Oldest, NOW)),
        ["old-big", "old-small", "mid"]
    );
    let f = MediaFilter {
        older_than: Some(Duration::from_secs(90 * 86_400)),
        larger_than: Some(2_000_000),
    };
    assert_eq!(
        ids(&select(&sample(), &f, MediaOrder::Largest, NOW)),
        ["mid", "old-big"]
    );
    let all = select(&sample(), &MediaFilter::default(), MediaOrder::Largest, NOW);
    assert_eq!(
        ids(&all),
        ["mid", "new-big", "old-big", "old-small", "new-small"]
    );
}

#[test]
fn listing_has_totals_and_a_limit() {
    let l = listing(
        "@a:hs",
        &sample(),
        MediaFilter::default(),
        MediaOrder::Oldest,
        2,
        NOW,
    );
    assert_eq!(ids(&l.shown), ["old-big", "old-small"]);
    assert_eq!(l.matching.count, 5);
    assert_eq!(l.matching.bytes, 33_001_010);
    assert_eq!(l.matching.oldest_ms, Some(NOW - 200 * DAY));
    assert_eq!(l.matching.newest_ms, Some(NOW));
}

#[test]
fn preview_and_plan_of_a_purge() {
    let f = MediaFilter {
        older_than: None,
        larger_than: Some(1_000_000),
    };
    let p = preview_purge("@a:hs.example:8448", &sample(), f, NOW);
    assert_eq!(p.totals.count, 3);
    assert_eq!(p.totals.bytes, 33_000_000);
    assert_eq!(ids(p.largest()), ["mid", "new-big", "old-big"]);
    assert_eq!(
        plan(&p),
        Some(ActionPlan::Delete {
            user_id: "@a:hs.example:8448".into(),
            server_name: "hs.example:8448".into(),
            media_ids: vec!["mid".into(), "new-big".into(), "old-big".into()],
        })
    );
    let nothing = preview_purge(
        "@a:hs",
        &sample(),
        MediaFilter {
            older_than: None,
            larger_than: Some(u64::MAX),
        },
        NOW,
    );
    assert!(nothing.is_empty());
    assert_eq!(plan(&nothing), None);
}

#[test]
fn quarantine_skips_media_already_quarantined() {
    let mut media = sample();
    media[0].quarantined = true;
    let p = preview_quarantine("@a:hs", &media, NOW);
    assert_eq!(p.totals.count, 4);
    assert!(!ids(&p.media).contains(&"old-big"));
}

#[test]
fn remote_purge_fixes_its_cut_off_at_preview_time() {
    let p = preview_purge_remote(Duration::from_secs(30 * 86_400), NOW);
    assert_eq!(
        plan(&p),
        Some(ActionPlan::PurgeRemote {
            before_ms: NOW - 30 * DAY
        })
    );
}

fn offered(c: &mut Confirmations) -> String {
    let p = preview_purge("@a:hs", &sample(), MediaFilter::default(), NOW);
    c.offer(
        p,
        "@admin:hs",
        code_from(42),
        NOW,
        crate::core::policy::DEFAULT_CONFIRM_WITHIN,
    )
    .code
}

#[test]
fn a_code_works_once_and_only_in_time() {
    let mut c = Confirmations::new();
    let code = offered(&mut c);
    assert_eq!(code.len(), CODE_LEN);
    assert_eq!(
        c.confirm("WRONG1", true, 100, NOW + 1),
        Confirmation::Refused(ConfirmRefusal::UnknownCode)
    );
    // A wrong code leaves the right one usable; case and spaces do not matter.
    assert!(matches!(
        c.confirm(&format!(" {} ", code.to_lowercase()), true, 100, NOW + 1),
        Confirmation::Carry { .. }
    ));
    assert_eq!(
        c.confirm(&code, true, 100, NOW + 2),
        Confirmation::Refused(ConfirmRefusal::UnknownCode),
        "used once"
    );
}

#[test]
fn an_expired_code_does_nothing_and_is_gone() {
    let mut c = Confirmations::new();
    let code = offered(&mut c);
    let expiry = NOW + 300_000;
    assert_eq!(
        c.confirm(&code, true, 100, expiry),
        Confirmation::Refused(ConfirmRefusal::Expired { at_ms: expiry })
    );
    assert_eq!(
        c.confirm(&code, true, 100, NOW),
        Confirmation::Refused(ConfirmRefusal::UnknownCode)
    );
}

#[test]
fn a_sender_without_the_level_leaves_the_code_for_others() {
    let mut c = Confirmations::new();
    let code = offered(&mut c);
    assert!(!may_act(Some(50), 100));
    assert!(!may_act(None, 0));
    assert!(may_act(Some(100), 100));
    assert_eq!(
        c.confirm(&code, may_act(Some(50), 100), 100, NOW),
        Confirmation::Refused(ConfirmRefusal::NotAllowed { needed: 100 })
    );
    assert!(matches!(
        c.confirm(&code, true, 100, NOW),
        Confirmation::Carry { .. }
    ));
}

#[test]
fn pending_actions_are_bounded() {
    let mut c = Confirmations::new();
    for i in 0..200u64 {
        let p = preview_purge_remote(Duration::from_secs(1), NOW);
        c.offer(
            p,
            "@a:hs",
            code_from(i),
            NOW + i,
            crate::core::policy::DEFAULT_CONFIRM_WITHIN,
        );
    }
    assert!(c.len() <= 64);
    // The newest survives.
    assert!(matches!(
        c.confirm(&code_from(199), true, 1, NOW + 200),
        Confirmation::Carry { .. }
    ));
}

#[test]
fn outcome_adds_up_done_and_failed() {
    let p = preview_purge("@a:hs", &sample(), MediaFilter::default(), NOW);
    let o = outcome(
        &p,
        &[
            ("mid".into(), ItemOutcome::Done),
            ("old-big".into(), ItemOutcome::AlreadyGone),
            ("new-big".into(), ItemOutcome::Failed("500".into())),
        ],
    );
    assert_eq!(o.done, 2);
    assert_eq!(o.bytes, 25_000_000);
    assert_eq!(o.failed, vec![("new-big".to_owned(), "500".to_owned())]);
    assert!(progress_due(10, 25, 10));
    assert!(!progress_due(25, 25, 5));
    assert!(!progress_due(0, 25, 5));
}

fn any_media() -> impl Strategy<Value = Vec<Media>> {
    proptest::collection::vec(
        (
            "[a-f]{1,3}",
            0u64..50_000_000,
            0u64..400 * DAY,
            any::<bool>(),
        ),
        0..40,
    )
    .prop_map(|items| {
        // Media IDs are unique on a server.
        let mut seen = std::collections::HashSet::new();
        items
            .into_iter()
            .filter(|(id, ..)| seen.insert(id.clone()))
            .map(|(id, len, age, q)| Media {
                media_id: id,
                media_length: len,
                created_ts: NOW - age,
                upload_name: None,
                quarantined: q,
            })
            .collect()
    })
}

fn any_filter() -> impl Strategy<Value = MediaFilter> {
    (
        proptest::option::of((0u64..500 * 86_400).prop_map(Duration::from_secs)),
        proptest::option::of(0u64..60_000_000),
    )
        .prop_map(|(older_than, larger_than)| MediaFilter {
            older_than,
            larger_than,
        })
}

proptest! {
    #[test]
    fn a_plan_is_never_broader_than_its_preview(
        media in any_media(),
        filter in any_filter(),
        later in proptest::collection::vec(("[a-f]{1,3}", 0u64..50_000_000), 0..10),
    ) {
        let preview = preview_purge("@u:hs", &media, filter, NOW);
        // Uploads made after the preview change nothing.
        let mut grown = media.clone();
        grown.extend(later.into_iter().map(|(id, len)| Media {
            media_id: format!("new-{id}"),
            media_length: len,
            created_ts: NOW + 1,
            upload_name: None,
            quarantined: false,
        }));
        let mut c = Confirmations::new();
        let code = c.offer(preview.clone(), "@a:hs", code_from(7), NOW, crate::core::policy::DEFAULT_CONFIRM_WITHIN).code;
        match c.confirm(&code, true, 100, NOW + 1) {
            Confirmation::Carry { plan: ActionPlan::Delete { media_ids, .. }, .. } => {
                // Exactly the previewed IDs, each matching the filter, each once.
                let previewed: Vec<&str> = ids(&preview.media);
                prop_assert_eq!(media_ids.iter().map(String::as_str).collect::<Vec<_>>(), previewed);
                for id in &media_ids {
                    let item = media.iter().find(|m| &m.media_id == id);
                    prop_assert!(item.is_some_and(|m| filter.matches(m, NOW)));
                    prop_assert!(!id.starts_with("new-"));
                }
                let mut unique = media_ids.clone();
                unique.sort();
                unique.dedup();
                prop_assert_eq!(unique.len(), media_ids.len());
            }
            Confirmation::Carry { plan, .. } => prop_assert!(false, "unexpected plan {:?}", plan),
            Confirmation::Refused(r) => {
                prop_assert_eq!(r, ConfirmRefusal::UnknownCode);
                prop_assert!(preview.media.is_empty());
            }
        }
    }

    #[test]
    fn a_preview_holds_every_match_and_its_totals(media in any_media(), filter in any_filter()) {
        let p = preview_purge("@u:hs", &media, filter, NOW);
        let mut expected: Vec<&str> = media
            .iter()
            .filter(|m| filter.matches(m, NOW))
            .map(|m| m.media_id.as_str())
            .collect();
        expected.sort();
        expected.dedup();
        let mut got = ids(&p.media);
        got.sort();
        prop_assert_eq!(got, expected);
        prop_assert_eq!(p.totals.count as usize, p.media.len());
        prop_assert_eq!(p.totals.bytes, p.media.iter().map(|m| m.media_length).sum::<u64>());
        prop_assert!(p.largest().len() <= PREVIEW_LARGEST);
        prop_assert!(p.largest().windows(2).all(|w| w[0].media_length >= w[1].media_length));
    }

    #[test]
    fn no_code_but_the_offered_one_in_time_by_an_allowed_sender_carries(
        guess in "[A-Za-z0-9]{0,8}",
        random in any::<u64>(),
        allowed in any::<bool>(),
        elapsed in 0u64..600_000,
    ) {
        let mut c = Confirmations::new();
        let p = preview_purge_remote(Duration::from_secs(86_400), NOW);
        let code = c.offer(p, "@a:hs", code_from(random), NOW, crate::core::policy::DEFAULT_CONFIRM_WITHIN).code;
        let result = c.confirm(&guess, allowed, 100, NOW + elapsed);
        let carries = matches!(result, Confirmation::Carry { .. });
        prop_assert_eq!(
            carries,
            allowed && guess.to_ascii_uppercase() == code && elapsed < 300_000
        );
    }
}

fn room(id: &str, state: u64, joined: u64, local: u64) -> RoomListEntry {
    RoomListEntry {
        room_id: id.to_owned(),
        name: None,
        state_events: state,
        joined_members: joined,
        joined_local_members: local,
    }
}

#[test]
fn delete_room_plans_exactly_the_previewed_room() {
    let p = preview_delete_room(room("!a:hs", 9, 2, 1), true);
    assert!(!p.is_empty());
    assert_eq!(
        plan(&p),
        Some(ActionPlan::DeleteRooms {
            room_ids: vec!["!a:hs".into()],
            block: true,
            recheck: false,
        })
    );
    let p = preview_delete_room(room("!a:hs", 9, 2, 1), false);
    assert!(matches!(
        plan(&p),
        Some(ActionPlan::DeleteRooms { block: false, .. })
    ));
}

#[test]
fn purge_history_fixes_its_cut_off_at_the_preview() {
    let p = preview_purge_history(
        room("!a:hs", 9, 2, 1),
        Duration::from_secs(180 * 86_400),
        false,
        NOW,
    );
    assert_eq!(p.before_ms, Some(NOW - 180 * DAY));
    assert_eq!(
        plan(&p),
        Some(ActionPlan::PurgeHistory {
            room_id: "!a:hs".into(),
            before_ms: NOW - 180 * DAY,
            delete_local_events: false,
        })
    );
    let p = preview_purge_history(room("!a:hs", 9, 2, 1), Duration::from_secs(1), true, 0);
    assert_eq!(p.before_ms, Some(0), "never before 1970");
    assert!(matches!(
        plan(&p),
        Some(ActionPlan::PurgeHistory {
            delete_local_events: true,
            ..
        })
    ));
}

#[test]
fn delete_abandoned_previews_rooms_without_local_members_but_never_the_admin_room() {
    let list = vec![
        room("!kept:hs", 50, 3, 1),
        room("!remote:hs", 4, 2, 0),
        room("!admin:hs", 30, 0, 0),
        room("!empty:hs", 8, 0, 0),
        room("!remote:hs", 4, 2, 0),
    ];
    let p = preview_delete_abandoned(&list, &["!admin:hs".to_owned()]);
    let ids: Vec<&str> = p.rooms.iter().map(|r| r.room_id.as_str()).collect();
    assert_eq!(
        ids,
        ["!empty:hs", "!remote:hs"],
        "most state events first, once"
    );
    assert_eq!(
        plan(&p),
        Some(ActionPlan::DeleteRooms {
            room_ids: vec!["!empty:hs".into(), "!remote:hs".into()],
            block: false,
            recheck: true,
        })
    );
    let none = preview_delete_abandoned(&list[..1], &[]);
    assert!(none.is_empty());
    assert_eq!(plan(&none), None);
}

#[test]
fn a_recheck_keeps_a_room_a_local_user_joined() {
    assert_eq!(recheck(None), Recheck::Gone);
    assert_eq!(recheck(Some(&room("!a:hs", 1, 5, 0))), Recheck::Delete);
    assert_eq!(recheck(Some(&room("!a:hs", 1, 5, 1))), Recheck::Keep);
    let p = preview_delete_abandoned(&[room("!a:hs", 1, 0, 0), room("!b:hs", 1, 0, 0)], &[]);
    let o = outcome(
        &p,
        &[
            ("!a:hs".into(), ItemOutcome::Done),
            ("!b:hs".into(), ItemOutcome::Kept),
        ],
    );
    assert_eq!(o.done, 1);
    assert_eq!(o.kept, ["!b:hs"]);
    assert!(o.failed.is_empty());
}

#[test]
fn tasks_are_polled_with_growing_pauses_and_a_bound() {
    let polling = TaskPolling {
        first: Duration::from_millis(100),
        longest: Duration::from_secs(1),
        max_polls: 10,
        note_every: 3,
    };
    assert_eq!(polling.pause(0), Duration::from_millis(100));
    assert_eq!(polling.pause(2), Duration::from_millis(400));
    assert_eq!(polling.pause(9), Duration::from_secs(1));
    assert_eq!(polling.pause(u32::MAX), Duration::from_secs(1));
    assert_eq!(polling.step(1, &TaskStatus::Complete), TaskStep::Done);
    assert_eq!(
        polling.step(10, &TaskStatus::Failed(Some("boom".into()))),
        TaskStep::Failed("boom".into())
    );
    assert!(matches!(
        polling.step(1, &TaskStatus::Failed(None)),
        TaskStep::Failed(_)
    ));
    assert_eq!(
        polling.step(3, &TaskStatus::Active),
        TaskStep::Wait {
            pause: Duration::from_millis(800),
            note: true
        }
    );
    assert!(matches!(
        polling.step(4, &TaskStatus::Scheduled),
        TaskStep::Wait { note: false, .. }
    ));
    assert_eq!(polling.step(10, &TaskStatus::Active), TaskStep::GiveUp);
    assert_eq!(
        polling.step(10, &TaskStatus::Other("x".into())),
        TaskStep::GiveUp
    );
    assert_eq!(TaskStatus::from_word("active", None), TaskStatus::Active);
    assert_eq!(
        TaskStatus::from_word("failed", Some("e".into())),
        TaskStatus::Failed(Some("e".into()))
    );
    assert!(is_protected("!a:hs", &["!a:hs".into()]));
    assert!(!is_protected("!a:hs", &["!b:hs".into()]));
}

#[test]
fn purge_deactivated_previews_per_user_totals_and_plans_exactly_those_media() {
    let media = vec![
        (
            "@gone:hs".to_owned(),
            vec![m("g-old", 5_000, 100), m("g-new", 9_000, 1)],
        ),
        ("@left:hs".to_owned(), vec![m("l-old", 20_000, 200)]),
        ("@recent:hs".to_owned(), vec![m("r-new", 1, 0)]),
        ("@other:elsewhere".to_owned(), vec![m("x", 1, 300)]),
    ];
    let p = preview_purge_deactivated(&media, Some(Duration::from_secs(30 * 86_400)), NOW);
    assert_eq!(ids(&p.media), ["l-old", "g-old"]);
    assert_eq!(p.totals.bytes, 25_000);
    let users: Vec<(&str, u64)> = p.users.iter().map(|(u, t)| (u.as_str(), t.bytes)).collect();
    assert_eq!(users, [("@left:hs", 20_000), ("@gone:hs", 5_000)]);
    assert_eq!(
        plan(&p),
        Some(ActionPlan::DeleteMedia {
            server_name: "hs".into(),
            media_ids: vec!["l-old".into(), "g-old".into()],
        })
    );
    let all = preview_purge_deactivated(&media, None, NOW);
    assert_eq!(all.media.len(), 4);
    let none = preview_purge_deactivated(&[], None, NOW);
    assert!(none.is_empty());
    assert_eq!(plan(&none), None);
}

proptest! {
    /// Whatever the room list (duplicates, the admin room abandoned or not),
    /// `delete-abandoned` plans exactly the previewed rooms: each abandoned,
    /// none protected, each once.
    #[test]
    fn delete_abandoned_is_never_broader_than_its_preview(
        list in proptest::collection::vec((0u8..40, 0u64..3, 0u64..20), 0..60),
        protect in 0u8..40,
    ) {
        let rooms: Vec<RoomListEntry> = list
            .iter()
            .map(|&(id, local, state)| room(&format!("!r{id}:hs"), state, local + 1, local))
            .collect();
        let protected = vec![format!("!r{protect}:hs")];
        let p = preview_delete_abandoned(&rooms, &protected);
        let Some(ActionPlan::DeleteRooms { room_ids, block, recheck }) = plan(&p) else {
            prop_assert!(p.rooms.is_empty());
            return Ok(());
        };
        prop_assert!(!block && recheck);
        let previewed: Vec<&str> = p.rooms.iter().map(|r| r.room_id.as_str()).collect();
        prop_assert_eq!(room_ids.iter().map(String::as_str).collect::<Vec<_>>(), previewed);
        let mut unique = room_ids.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(unique.len(), room_ids.len());
        for id in &room_ids {
            prop_assert!(!is_protected(id, &protected));
            prop_assert!(rooms.iter().any(|r| &r.room_id == id && r.is_abandoned()));
        }
    }
}
