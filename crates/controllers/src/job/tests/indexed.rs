//! §9.2 Indexed Jobs (rows 26–33) and the Indexed rules of §2.2 and §3.3.

use runlet_codec::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};

use super::*;
use runlet_api::vocab::JobConditionType;

/// A pod of index `ix` in `phase` (`"S"`, `"F"`, `"R"`, `"P"`), named `<ix>-<n>`.
fn ipod(ix: i32, phase: &str, n: usize) -> Pod {
    let phase = match phase {
        "S" => "Succeeded",
        "F" => "Failed",
        "R" => "Running",
        _ => "Pending",
    };
    pod(&format!("{ix}-{n}")).index(ix).phase(phase).build()
}

fn ipods(spec: &[(i32, &str)]) -> Vec<Pod> {
    spec.iter().enumerate().map(|(n, &(ix, phase))| ipod(ix, phase, n)).collect()
}

fn idx(list: &[i32]) -> Vec<Option<String>> {
    list.iter().map(|i| Some(i.to_string())).collect()
}

struct Case {
    row: u32,
    job: Job,
    pods: Vec<Pod>,
    created: Vec<i32>,
    deleted: Vec<&'static str>,
    counts: (i32, i32, i32, i32, i32),
    completed: Option<&'static str>,
    conditions: Vec<(String, String)>,
}

#[test]
fn table_9_2() {
    let unindexed = pod("none").running().build();
    let mut row_33 = vec![unindexed];
    row_33.extend(ipods(&[(0, "S"), (1, "R"), (2, "R")]));
    row_33.push(pod("dup").index(2).build());
    let cases = vec![
        Case {
            row: 26,
            job: job(2, Some(5)).indexed().build(),
            pods: vec![],
            created: vec![0, 1],
            deleted: vec![],
            counts: (2, 0, 0, 0, 0),
            completed: None,
            conditions: vec![],
        },
        Case {
            row: 27,
            job: job(2, Some(3)).indexed().build(),
            pods: ipods(&[(0, "S"), (1, "F"), (1, "S"), (2, "S")]),
            created: vec![],
            deleted: vec![],
            counts: (0, 0, 0, 3, 1),
            completed: Some("0-2"),
            conditions: vec![
                cond(JobConditionType::SuccessCriteriaMet, "CompletionsReached"),
                cond(JobConditionType::Complete, "CompletionsReached"),
            ],
        },
        Case {
            row: 28,
            job: job(2, Some(3)).indexed().backoff_limit(0).build(),
            pods: ipods(&[(0, "S"), (1, "F"), (2, "R")]),
            created: vec![],
            deleted: vec!["2-2"],
            counts: (0, 0, 1, 1, 2),
            completed: Some("0"),
            conditions: vec![cond(JobConditionType::FailureTarget, "BackoffLimitExceeded")],
        },
        Case {
            row: 29,
            job: job(2, Some(3)).indexed().build(),
            pods: ipods(&[(0, "S"), (1, "S"), (1, "S")]),
            created: vec![2],
            deleted: vec![],
            counts: (1, 0, 0, 2, 0),
            completed: Some("0,1"),
            conditions: vec![],
        },
        Case {
            row: 30,
            job: job(8, Some(20)).indexed().build(),
            pods: ipods(&[(0, "R"), (2, "S"), (3, "P"), (4, "S"), (5, "S"), (7, "S"), (8, "S"), (9, "S")]),
            created: vec![1, 6, 10, 11, 12, 13],
            deleted: vec![],
            counts: (8, 0, 0, 6, 0),
            completed: Some("2,4,5,7-9"),
            conditions: vec![],
        },
        Case {
            row: 31,
            job: job(3, Some(4)).indexed().build(),
            pods: ipods(&[(0, "F"), (1, "P"), (2, "F")]),
            created: vec![0, 2],
            deleted: vec![],
            counts: (3, 0, 0, 0, 2),
            completed: None,
            conditions: vec![],
        },
        Case {
            row: 32,
            job: job(2, Some(5)).indexed().build(),
            pods: ipods(&[(0, "S"), (5, "R"), (6, "S"), (7, "P"), (8, "F")]),
            created: vec![],
            deleted: vec!["5-1", "7-3"],
            counts: (0, 0, 2, 1, 0),
            completed: Some("0"),
            conditions: vec![],
        },
        Case {
            row: 33,
            job: job(5, Some(5)).indexed().build(),
            pods: row_33,
            created: vec![],
            deleted: vec!["none", "dup"],
            counts: (2, 0, 2, 1, 0),
            completed: Some("0"),
            conditions: vec![],
        },
    ];
    for c in cases {
        let plan = run(&c.job, &c.pods);
        assert_eq!(created_indexes(&plan), idx(&c.created), "row {}: created", c.row);
        assert_eq!(deleted(&plan), c.deleted, "row {}: deleted", c.row);
        let status = settle(&plan);
        assert_eq!(counts(&status), c.counts, "row {}: counts", c.row);
        assert_eq!(status.completed_indexes.as_deref(), c.completed, "row {}: completedIndexes", c.row);
        assert_eq!(conditions(&status), c.conditions, "row {}: conditions", c.row);
        assert_eq!(status.failed_indexes, None, "row {}: failedIndexes only with per-index backoff", c.row);
    }
}

#[test]
fn row_26_indexed_pods_carry_index_hostname_env() {
    let job = job(2, Some(5)).indexed().init_container("init").build();
    let plan = run(&job, &[]);
    let pods: Vec<&Pod> = plan.creations.iter().flatten().collect();
    assert_eq!(pods.len(), 2);
    for (i, p) in pods.iter().enumerate() {
        let ix = i.to_string();
        let meta = &p.metadata;
        assert_eq!(meta.generate_name.as_deref(), Some(format!("foobar-{i}-").as_str()));
        assert_eq!(meta.annotations.as_ref().and_then(|a| a.get(JOB_COMPLETION_INDEX)), Some(&ix));
        assert_eq!(meta.labels.as_ref().and_then(|l| l.get(JOB_COMPLETION_INDEX)), Some(&ix));
        assert_eq!(meta.labels.as_ref().and_then(|l| l.get(CONTROLLER_UID)).map(String::as_str), Some(JOB_UID));
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some(format!("foobar-{i}").as_str()));
        assert_eq!(meta.annotations.as_ref().and_then(|a| a.get(JOB_INDEX_FAILURE_COUNT)), None);
        let want = EnvVar {
            name: "JOB_COMPLETION_INDEX".into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: "metadata.labels['batch.kubernetes.io/job-completion-index']".into(),
                }),
                ..Default::default()
            }),
        };
        for c in spec.init_containers.iter().flatten().chain(&spec.containers) {
            assert_eq!(c.env.as_deref(), Some(std::slice::from_ref(&want)), "{}", c.name);
        }
    }
}

#[test]
fn existing_env_var_is_left_alone() {
    let mut job = job(1, Some(1)).indexed().build();
    let own = EnvVar { name: "JOB_COMPLETION_INDEX".into(), value: Some("mine".into()), value_from: None };
    job.spec.as_mut().unwrap().template.spec.as_mut().unwrap().containers[0].env = Some(vec![own.clone()]);
    let plan = run(&job, &[]);
    let spec = plan.creations[0][0].spec.as_ref().unwrap();
    assert_eq!(spec.containers[0].env, Some(vec![own]));
}

#[test]
fn long_job_names_are_cut_in_generate_name_but_not_hostname() {
    let name = "j".repeat(60);
    let mut job = job(1, Some(1)).indexed().build();
    job.metadata.name = Some(name.clone());
    let plan = run(&job, &[]);
    let p = &plan.creations[0][0];
    assert_eq!(p.metadata.generate_name, Some(format!("{}-0-", "j".repeat(55))));
    assert_eq!(p.spec.as_ref().and_then(|s| s.hostname.clone()), Some(format!("{name}-0")));
}

#[test]
fn unparsable_or_negative_index_pods_are_strays() {
    let pods = vec![
        pod("neg").running().annotation(JOB_COMPLETION_INDEX, "-1").build(),
        pod("word").running().annotation(JOB_COMPLETION_INDEX, "one").build(),
        pod("huge").running().annotation(JOB_COMPLETION_INDEX, "99999999999").build(),
        pod("ok").running().index(0).build(),
    ];
    let plan = run(&job(2, Some(2)).indexed().build(), &pods);
    let mut names = deleted(&plan);
    names.sort();
    assert_eq!(names, vec!["huge", "neg", "word"]);
    assert_eq!(plan.creation_count(), 0, "deletion wins");
}

#[test]
fn duplicate_index_keeps_the_most_advanced_pod() {
    let pods = vec![
        pod("ready").index(0).running().ready().node("n").build(),
        pod("running").index(0).running().node("n").build(),
        pod("pending").index(0).build(),
    ];
    let plan = run(&job(1, Some(1)).indexed().build(), &pods);
    let mut names = deleted(&plan);
    names.sort();
    assert_eq!(names, vec!["pending", "running"]);
}

#[test]
fn scale_down_of_indexed_jobs_deletes_beyond_strays() {
    let pods = ipods(&[(0, "R"), (1, "R"), (2, "R")]);
    let plan = run(&job(1, Some(3)).indexed().build(), &pods);
    assert_eq!(plan.deletions.len(), 2);
}

#[test]
fn elastic_indexed_scale_down_drops_out_of_range_indexes() {
    // completions and parallelism lowered together from 4 to 2: index 3 is out of range, and the
    // completed index 3 no longer counts.
    let job = job(2, Some(2)).indexed().status(|s| s.completed_indexes = Some("1,3".into())).build();
    let pods = ipods(&[(0, "R"), (3, "R")]);
    let plan = run(&job, &pods);
    assert_eq!(deleted(&plan), vec!["3-1"]);
    let status = settle(&plan);
    assert_eq!(status.completed_indexes.as_deref(), Some("1"));
    assert_eq!(status.succeeded, Some(1));
}

#[test]
fn elastic_indexed_scale_up_creates_new_indexes() {
    let job = job(4, Some(4)).indexed().status(|s| s.completed_indexes = Some("0".into())).build();
    let plan = run(&job, &ipods(&[(1, "R")]));
    assert_eq!(created_indexes(&plan), idx(&[2, 3]));
}

#[test]
fn terminating_pods_hold_their_index_with_policy_failed() {
    let pods = vec![pod("t").index(0).running().deleting().build()];
    let plan = run(&job(2, Some(2)).indexed().replacement("Failed").build(), &pods);
    assert_eq!(created_indexes(&plan), idx(&[1]));
    let plan = run(&job(2, Some(2)).indexed().build(), &pods);
    assert_eq!(created_indexes(&plan), idx(&[0, 1]));
}

#[test]
fn completed_indexes_format_runs_of_two_with_a_comma() {
    let job = job(1, Some(10)).indexed().build();
    let pods = ipods(&[(7, "S"), (8, "S")]);
    assert_eq!(settle(&run(&job, &pods)).completed_indexes.as_deref(), Some("7,8"));
    let pods = ipods(&[(1, "S"), (3, "S"), (4, "S"), (5, "S")]);
    assert_eq!(settle(&run(&job, &pods)).completed_indexes.as_deref(), Some("1,3-5"));
}

#[test]
fn indexed_success_counts_indexes_not_pods() {
    // An already counted succeeded index (in completedIndexes) is not recounted by a new pod.
    let job = job(1, Some(3)).indexed().status(|s| {
        s.completed_indexes = Some("1".into());
        s.succeeded = Some(1);
    });
    let plan = run(&job.build(), &ipods(&[(1, "S")]));
    let status = settle(&plan);
    assert_eq!(status.succeeded, Some(1));
    assert_eq!(plan.tracking.remove_finalizers.len(), 1, "its finalizer is still removed");
}
