use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::*;

fn utc() -> TimeZone {
    TimeZone::UTC
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn parse_errors_read_like_robfig() {
    let cases: &[(&str, &str)] = &[
        ("", "empty spec string"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("0 * * * * *", "expected exactly 5 fields, found 6: [0 * * * * *]"),
        ("  @hourly", "expected exactly 5 fields, found 1: [@hourly]"),
        ("61 * * * *", "end of range (61) above maximum (59): 61"),
        ("* 24 * * *", "end of range (24) above maximum (23): 24"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * * 13 *", "end of range (13) above maximum (12): 13"),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("*/2/3 * * * *", "too many slashes: */2/3"),
        ("x * * * *", "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"),
        ("/5 * * * *", "failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax"),
        ("*/-1 * * * *", "negative number (-1) not allowed: -1"),
        (
            "99999999999999999999 * * * *",
            "failed to parse int from 99999999999999999999: strconv.Atoi: parsing \"99999999999999999999\": value out of range",
        ),
        ("* * * foo *", "failed to parse int from foo: strconv.Atoi: parsing \"foo\": invalid syntax"),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("@hourly ", "unrecognized descriptor: @hourly "),
        ("@every", "unrecognized descriptor: @every"),
        ("@every x", "failed to parse duration @every x: time: invalid duration \"x\""),
        ("@every 5", "failed to parse duration @every 5: time: missing unit in duration \"5\""),
        ("@every 5y", "failed to parse duration @every 5y: time: unknown unit \"y\" in duration \"5y\""),
        ("TZ=Mars/Base * * * * *", "provided bad location Mars/Base: unknown time zone Mars/Base"),
        (
            "CRON_TZ=america/new_york * * * * *",
            "provided bad location america/new_york: unknown time zone america/new_york",
        ),
    ];
    for (spec, want) in cases {
        match parse_standard(spec, &utc()) {
            Err(e) => assert_eq!(e.to_string(), *want, "{spec:?}"),
            Ok(s) => panic!("{spec:?} parsed: {s:?}"),
        }
    }
}

#[test]
fn accepted_syntax() {
    for spec in [
        "* * * * *",
        "*/5 * * * *",
        "0 0 * * ?",
        "0-59/15 8-17 * * mon-fri",
        "30 08 ? Jul Sun",
        "0 0 1,15 JAN,jun *",
        "5/15 * * * *",
        "+5 * * * *",
        ", * * * *",
        "\t1  2\n3 4 5 ",
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
        "@every 1h30m",
        "@every 1.5h",
        "@every 300ms",
        "TZ=UTC * * * * *",
        "CRON_TZ=America/New_York @daily",
        "TZ= 0 0 * * *",
    ] {
        assert!(parse_standard(spec, &utc()).is_ok(), "{spec:?}");
    }
}

#[test]
fn field_bits() {
    let Schedule::Spec(s) = parse_standard("0/15 1-3,20 */10 * Sun", &utc()).unwrap() else { panic!() };
    assert_eq!(s.minute, 1 | 1 << 15 | 1 << 30 | 1 << 45);
    assert_eq!(s.hour, 1 << 1 | 1 << 2 | 1 << 3 | 1 << 20);
    assert_eq!(s.dom, 1 << 1 | 1 << 11 | 1 << 21 | 1 << 31, "*/10 starts at the minimum and is not a star");
    assert_eq!(s.month, 0b1_1111_1111_1110 | STAR_BIT);
    assert_eq!(s.dow, 1);
    let Schedule::Spec(s) = parse_standard("*/1 * * * *", &utc()).unwrap() else { panic!() };
    assert_ne!(s.minute & STAR_BIT, 0, "a step of 1 keeps the star");
}

/// `Next` from `after` (UTC unless the spec names a zone) lands on `want` ("" for never).
fn check_next(cases: &[(&str, &str, &str)], local: &TimeZone) {
    for (after, spec, want) in cases {
        let schedule = parse_standard(spec, local).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let got = schedule.next(ts(after));
        let want = (!want.is_empty()).then(|| ts(want));
        assert_eq!(got, want, "next after {after} of {spec:?}");
    }
}

#[test]
fn next_activation() {
    check_next(
        &[
            ("2012-07-09T14:45:00Z", "0/15 * * * *", "2012-07-09T15:00:00Z"),
            ("2012-07-09T14:59:00Z", "0/15 * * * *", "2012-07-09T15:00:00Z"),
            ("2012-07-09T14:59:59.5Z", "0/15 * * * *", "2012-07-09T15:00:00Z"),
            ("2012-07-09T15:00:00Z", "0/15 * * * *", "2012-07-09T15:15:00Z"),
            ("2012-07-09T15:45:00Z", "20-35/15 * * * *", "2012-07-09T16:20:00Z"),
            ("2012-07-09T23:46:00Z", "*/15 * * * *", "2012-07-10T00:00:00Z"),
            ("2012-07-09T23:45:00Z", "20-35/15 * * * *", "2012-07-10T00:20:00Z"),
            ("2012-07-09T23:35:51Z", "20-35/15 1/2 * * *", "2012-07-10T01:20:00Z"),
            ("2012-07-09T23:35:51Z", "20-35/15 10-12 * * *", "2012-07-10T10:20:00Z"),
            ("2012-07-09T23:35:51Z", "20-35/15 1/2 */2 * *", "2012-07-11T01:20:00Z"),
            ("2012-07-09T23:35:00Z", "0 0 9 Apr-Oct ?", "2012-08-09T00:00:00Z"),
            // Day of month and day of week both restricted: either matches.
            ("2012-07-09T23:35:00Z", "0 0 */5 Apr,Aug,Oct Mon", "2012-08-01T00:00:00Z"),
            ("2012-07-09T23:35:00Z", "0 0 */5 Oct Mon", "2012-10-01T00:00:00Z"),
            // One of them a star: both must match.
            ("2012-07-09T23:35:00Z", "0 0 * Feb Mon", "2013-02-04T00:00:00Z"),
            ("2012-07-09T23:35:00Z", "0 0 * Feb Mon/2", "2013-02-01T00:00:00Z"),
            ("2012-12-31T23:59:45Z", "* * * * *", "2013-01-01T00:00:00Z"),
            ("2012-07-09T23:35:00Z", "0 0 29 Feb ?", "2016-02-29T00:00:00Z"),
            ("2012-07-09T15:04:00Z", "@hourly", "2012-07-09T16:00:00Z"),
            ("2012-07-09T15:00:00Z", "@daily", "2012-07-10T00:00:00Z"),
            ("2012-07-09T00:00:00Z", "@weekly", "2012-07-15T00:00:00Z"),
            ("2012-07-08T00:00:00Z", "@monthly", "2012-08-01T00:00:00Z"),
            ("2012-07-08T00:00:00Z", "@yearly", "2013-01-01T00:00:00Z"),
            // Never (no such day within five years).
            ("2012-07-09T23:35:00Z", "0 0 30 Feb ?", ""),
            ("2012-07-09T23:35:00Z", "0 0 31 Apr ?", ""),
            ("2012-11-04T00:00:00-04:00", "TZ=America/New_York 0 3 3 * ?", "2012-12-03T03:00:00-05:00"),
        ],
        &utc(),
    );
}

#[test]
fn next_across_daylight_saving_changes() {
    let ny = TimeZone::get("America/New_York").unwrap();
    check_next(
        &[
            // 2am EST jumps to 3am EDT: 2:30 does not exist that day, so the next is a year later.
            ("2012-03-11T00:00:00-05:00", "TZ=America/New_York 30 2 11 Mar ?", "2013-03-11T02:30:00-04:00"),
            ("2012-03-11T00:00:00-05:00", "TZ=America/New_York 0 * * * ?", "2012-03-11T01:00:00-05:00"),
            ("2012-03-11T01:00:00-05:00", "TZ=America/New_York 0 * * * ?", "2012-03-11T03:00:00-04:00"),
            ("2012-03-11T03:00:00-04:00", "CRON_TZ=America/New_York 0 * * * ?", "2012-03-11T04:00:00-04:00"),
            ("2012-03-11T01:00:00-05:00", "TZ=America/New_York 0 1 * * ?", "2012-03-12T01:00:00-04:00"),
            // The skipped 2am nightly run waits for the next day.
            ("2012-03-11T00:00:00-05:00", "TZ=America/New_York 0 2 * * ?", "2012-03-12T02:00:00-04:00"),
            // 2am EDT falls back to 1am EST: the repeated hour runs twice.
            ("2012-11-04T00:00:00-04:00", "TZ=America/New_York 30 2 04 Nov ?", "2012-11-04T02:30:00-05:00"),
            ("2012-11-04T01:45:00-04:00", "TZ=America/New_York 30 1 04 Nov ?", "2012-11-04T01:30:00-05:00"),
            ("2012-11-04T01:00:00-04:00", "TZ=America/New_York 0 * * * ?", "2012-11-04T01:00:00-05:00"),
            ("2012-11-04T01:00:00-05:00", "TZ=America/New_York 0 * * * ?", "2012-11-04T02:00:00-05:00"),
            ("2012-11-04T01:00:00-04:00", "TZ=America/New_York 0 1 * * ?", "2012-11-04T01:00:00-05:00"),
            ("2012-11-04T01:00:00-05:00", "TZ=America/New_York 0 1 * * ?", "2012-11-05T01:00:00-05:00"),
            ("2012-11-04T00:00:00-04:00", "TZ=America/New_York 0 2 * * ?", "2012-11-04T02:00:00-05:00"),
            ("2012-11-04T00:00:00-04:00", "TZ=America/New_York 0 3 * * ?", "2012-11-04T03:00:00-05:00"),
            // Midnight that DST skips (São Paulo, 2018).
            ("2018-10-17T05:00:00-04:00", "TZ=America/Sao_Paulo 0 9 10 * ?", "2018-11-10T06:00:00-05:00"),
            ("2018-02-14T05:00:00-05:00", "TZ=America/Sao_Paulo 0 9 22 * ?", "2018-02-22T07:00:00-05:00"),
        ],
        &utc(),
    );
    // A schedule without a zone reads its fields in the local zone.
    check_next(
        &[
            ("2012-11-04T00:00:00-04:00", "0 1 * * *", "2012-11-04T01:00:00-04:00"),
            ("2012-11-04T01:00:00-04:00", "0 1 * * *", "2012-11-04T01:00:00-05:00"),
        ],
        &ny,
    );
}

#[test]
fn go_date_resolves_gaps_and_folds_like_go() {
    let ny = TimeZone::get("America/New_York").unwrap();
    /// (year, month, day, hour, minute) and the instant wanted.
    type Case = ((i16, i8, i8, i8, i8), &'static str);
    let cases: &[Case] = &[
        // In the gap (2:30 does not exist): Go lands an hour earlier, on 1:30 EST.
        ((2011, 3, 13, 2, 30), "2011-03-13T01:30:00-05:00"),
        // In the fold (1:30 happens twice): the first one, EDT.
        ((2011, 11, 6, 1, 30), "2011-11-06T01:30:00-04:00"),
        // Overflowing months and days carry over.
        ((2011, 13, 1, 0, 0), "2012-01-01T00:00:00-05:00"),
        ((2011, 2, 30, 12, 0), "2011-03-02T12:00:00-05:00"),
    ];
    for ((y, mo, d, h, mi), want) in cases {
        assert_eq!(next::go_date(&ny, *y, *mo, *d, *h, *mi, 0), Some(ts(want)), "{y}-{mo}-{d} {h}:{mi}");
    }
}

#[test]
fn every_adds_a_fixed_delay() {
    let s = parse_standard("@every 90m", &utc()).unwrap();
    assert_eq!(s, Schedule::Every(SignedDuration::from_mins(90)));
    assert_eq!(s.next(ts("2026-01-01T00:00:00.250Z")), Some(ts("2026-01-01T01:30:00Z")));
    // Under a second counts as a second; fractions of a second are dropped.
    assert_eq!(parse_standard("@every 10ms", &utc()).unwrap(), Schedule::Every(SignedDuration::from_secs(1)));
    assert_eq!(parse_standard("@every 2.7s", &utc()).unwrap(), Schedule::Every(SignedDuration::from_secs(2)));
    assert_eq!(parse_standard("@every -5m", &utc()).unwrap(), Schedule::Every(SignedDuration::from_secs(1)));
}

#[test]
fn go_durations() {
    let ok: &[(&str, i64)] = &[
        ("0", 0),
        ("5s", 5_000_000_000),
        ("1h30m", 5_400_000_000_000),
        ("1.5h", 5_400_000_000_000),
        (".5s", 500_000_000),
        ("1.s", 1_000_000_000),
        ("-2m", -120_000_000_000),
        ("+3ms", 3_000_000),
        ("1µs", 1_000),
        ("7ns", 7),
    ];
    for (text, nanos) in ok {
        assert_eq!(parse_go_duration(text), Ok(SignedDuration::from_nanos(*nanos)), "{text}");
    }
    let bad: &[(&str, &str)] = &[
        ("", "time: invalid duration \"\""),
        ("-", "time: invalid duration \"-\""),
        (".s", "time: invalid duration \".s\""),
        ("s", "time: invalid duration \"s\""),
        ("3", "time: missing unit in duration \"3\""),
        ("3d", "time: unknown unit \"d\" in duration \"3d\""),
        ("9999999999h", "time: invalid duration \"9999999999h\""),
    ];
    for (text, want) in bad {
        assert_eq!(parse_go_duration(text), Err(want.to_string()), "{text:?}");
    }
}

#[test]
fn locations() {
    let local = TimeZone::get("Europe/Berlin").unwrap();
    assert_eq!(load_location("", &local), Ok(TimeZone::UTC));
    assert_eq!(load_location("UTC", &local), Ok(TimeZone::UTC));
    assert_eq!(load_location("Local", &local).unwrap().iana_name(), Some("Europe/Berlin"));
    assert_eq!(load_location("Asia/Tokyo", &local).unwrap().iana_name(), Some("Asia/Tokyo"));
    assert_eq!(load_location("asia/tokyo", &local), Err("unknown time zone asia/tokyo".into()));
    assert_eq!(load_location("Nowhere/City", &local), Err("unknown time zone Nowhere/City".into()));
    assert_eq!(load_location("../etc", &local), Err("time: invalid location name".into()));
}
