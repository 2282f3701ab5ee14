//! Kubernetes' vocabulary as types: condition statuses, Job and Pod condition types, pod phases and event
//! types. The wire form is a string; everything else in runlet names these values through the enums here, so a
//! typo is a compile error instead of a silent mismatch. Each type converts to its wire string (`as_str`,
//! `Display`, `Into<String>`), parses one back (`parse`, `None` for anything else), and compares equal to a
//! string holding its wire form, so `condition.status == ConditionStatus::True` reads as it means.

/// Defines a closed set of wire strings as an enum with the conversions every vocabulary type shares.
macro_rules! wire_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The wire form.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// The value whose wire form is exactly `s` (case matters, as in Kubernetes).
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.as_str()
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }
    };
}

wire_enum! {
    /// The status of any condition (`core/v1` `ConditionStatus`).
    pub enum ConditionStatus {
        True => "True",
        False => "False",
        Unknown => "Unknown",
    }
}

impl ConditionStatus {
    /// `True` when `holds`, `False` otherwise.
    pub fn from_bool(holds: bool) -> ConditionStatus {
        if holds { ConditionStatus::True } else { ConditionStatus::False }
    }
}

wire_enum! {
    /// The condition types a Job's status carries (`batch/v1` `JobConditionType`).
    pub enum JobConditionType {
        Suspended => "Suspended",
        FailureTarget => "FailureTarget",
        SuccessCriteriaMet => "SuccessCriteriaMet",
        Failed => "Failed",
        Complete => "Complete",
    }
}

wire_enum! {
    /// The condition types of a pod's status that runlet sets or reads (`core/v1` `PodConditionType`).
    pub enum PodConditionType {
        PodScheduled => "PodScheduled",
        PodReadyToStartContainers => "PodReadyToStartContainers",
        Initialized => "Initialized",
        ContainersReady => "ContainersReady",
        Ready => "Ready",
        /// Set before a pod is evicted or preempted; a pod failure policy can match on it.
        DisruptionTarget => "DisruptionTarget",
    }
}

wire_enum! {
    /// A pod's lifecycle phase (`core/v1` `PodPhase`).
    pub enum PodPhase {
        Pending => "Pending",
        Running => "Running",
        Succeeded => "Succeeded",
        Failed => "Failed",
        Unknown => "Unknown",
    }
}

impl PodPhase {
    /// `Succeeded` or `Failed`: nothing runs any more and nothing will.
    pub fn is_terminal(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }

    /// The phase a pod's status reports, if it reports one this version knows.
    pub fn of(status: Option<&runlet_codec::PodStatus>) -> Option<PodPhase> {
        status.and_then(|s| s.phase.as_deref()).and_then(PodPhase::parse)
    }
}

wire_enum! {
    /// When a pod's containers are restarted (`core/v1` `RestartPolicy`); an init container's `restartPolicy`
    /// can only be `Always`, which makes it a sidecar.
    pub enum RestartPolicy {
        Always => "Always",
        OnFailure => "OnFailure",
        Never => "Never",
    }
}

wire_enum! {
    /// A namespace's lifecycle phase (`core/v1` `NamespacePhase`).
    pub enum NamespacePhase {
        Active => "Active",
        Terminating => "Terminating",
    }
}

wire_enum! {
    /// The condition types of a Node's status that a kubelet posts (`core/v1` `NodeConditionType`); runlet's
    /// agents post only `Ready`, the node lifecycle controller turns all of them `Unknown` when a node goes silent.
    pub enum NodeConditionType {
        Ready => "Ready",
        MemoryPressure => "MemoryPressure",
        DiskPressure => "DiskPressure",
        PIDPressure => "PIDPressure",
    }
}

wire_enum! {
    /// What a node taint does to pods that do not tolerate it (`core/v1` `TaintEffect`).
    pub enum TaintEffect {
        NoSchedule => "NoSchedule",
        PreferNoSchedule => "PreferNoSchedule",
        NoExecute => "NoExecute",
    }
}

wire_enum! {
    /// How a toleration matches a taint's value (`core/v1` `TolerationOperator`); an empty operator means `Equal`.
    pub enum TolerationOperator {
        Equal => "Equal",
        Exists => "Exists",
    }
}

wire_enum! {
    /// Why an API request failed: the `reason` of a failure `Status` (`meta/v1` `StatusReason`). Clients decide
    /// what an error means from it (and from `details.causes`), never from the HTTP code or the message.
    pub enum StatusReason {
        /// No reason (upstream `StatusReasonUnknown`): plain internal errors; the `Status` then has no `reason`.
        Unknown => "",
        Unauthorized => "Unauthorized",
        Forbidden => "Forbidden",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        Conflict => "Conflict",
        Gone => "Gone",
        Invalid => "Invalid",
        ServerTimeout => "ServerTimeout",
        Timeout => "Timeout",
        TooManyRequests => "TooManyRequests",
        BadRequest => "BadRequest",
        MethodNotAllowed => "MethodNotAllowed",
        NotAcceptable => "NotAcceptable",
        RequestEntityTooLarge => "RequestEntityTooLarge",
        UnsupportedMediaType => "UnsupportedMediaType",
        InternalError => "InternalError",
        Expired => "Expired",
        ServiceUnavailable => "ServiceUnavailable",
    }
}

impl StatusReason {
    /// The reason for an answer that carried an HTTP code but no `Status` reason (upstream
    /// `NewGenericServerResponse`): what a proxied peer's bare error means.
    pub fn for_code(code: u16) -> StatusReason {
        match code {
            400 => StatusReason::BadRequest,
            401 => StatusReason::Unauthorized,
            403 => StatusReason::Forbidden,
            404 => StatusReason::NotFound,
            405 => StatusReason::MethodNotAllowed,
            406 => StatusReason::NotAcceptable,
            409 => StatusReason::Conflict,
            410 => StatusReason::Gone,
            413 => StatusReason::RequestEntityTooLarge,
            415 => StatusReason::UnsupportedMediaType,
            422 => StatusReason::Invalid,
            429 => StatusReason::TooManyRequests,
            500 => StatusReason::InternalError,
            503 => StatusReason::ServiceUnavailable,
            504 => StatusReason::Timeout,
            _ => StatusReason::Unknown,
        }
    }
}

/// The `details.causes[].reason` of a create refused because its namespace is being deleted (upstream
/// `v1.NamespaceTerminatingCause`); clients test for it instead of reading the message.
pub const NAMESPACE_TERMINATING_CAUSE: &str = "NamespaceTerminating";

wire_enum! {
    /// An event's type (`core/v1` `EventTypeNormal`, `EventTypeWarning`).
    pub enum EventType {
        Normal => "Normal",
        Warning => "Warning",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms_round_trip_and_compare_with_strings() {
        for &s in ConditionStatus::ALL {
            assert_eq!(ConditionStatus::parse(s.as_str()), Some(s));
            let owned: String = s.into();
            assert!(s.as_str() == s && owned == s, "{owned}");
            assert_eq!(s.to_string(), s.as_str());
        }
        for &t in JobConditionType::ALL {
            assert_eq!(JobConditionType::parse(t.as_str()), Some(t));
        }
        for &t in PodConditionType::ALL {
            assert_eq!(PodConditionType::parse(t.as_str()), Some(t));
        }
        for &p in PodPhase::ALL {
            assert_eq!(PodPhase::parse(p.as_str()), Some(p));
        }
        for &e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(e));
        }
        for &t in NodeConditionType::ALL {
            assert_eq!(NodeConditionType::parse(t.as_str()), Some(t));
        }
        for &e in TaintEffect::ALL {
            assert_eq!(TaintEffect::parse(e.as_str()), Some(e));
        }
        for &o in TolerationOperator::ALL {
            assert_eq!(TolerationOperator::parse(o.as_str()), Some(o));
        }
        for &r in StatusReason::ALL {
            assert_eq!(StatusReason::parse(r.as_str()), Some(r));
        }
        for &r in RestartPolicy::ALL {
            assert_eq!(RestartPolicy::parse(r.as_str()), Some(r));
        }
        for &p in NamespacePhase::ALL {
            assert_eq!(NamespacePhase::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn anything_else_is_not_a_value() {
        let cases: [(&str, bool); 5] =
            [("true", false), ("TRUE", false), ("", false), (" True", false), ("True", true)];
        for (wire, known) in cases {
            assert_eq!(ConditionStatus::parse(wire).is_some(), known, "{wire:?}");
        }
        assert_eq!(EventType::parse("warning"), None, "a typo is not silently Normal");
        assert!("Complete" != JobConditionType::Failed);
        let stored: String = "Complete".into();
        assert!(stored == JobConditionType::Complete);
    }

    #[test]
    fn terminal_phases_and_phase_of_a_status() {
        let terminal: Vec<PodPhase> = PodPhase::ALL.iter().copied().filter(|p| p.is_terminal()).collect();
        assert_eq!(terminal, [PodPhase::Succeeded, PodPhase::Failed]);
        let status =
            |phase: Option<&str>| runlet_codec::PodStatus { phase: phase.map(Into::into), ..Default::default() };
        assert_eq!(PodPhase::of(Some(&status(Some("Running")))), Some(PodPhase::Running));
        assert_eq!(PodPhase::of(Some(&status(Some("Done")))), None);
        assert_eq!(PodPhase::of(Some(&status(None))), None);
        assert_eq!(PodPhase::of(None), None);
        assert_eq!(ConditionStatus::from_bool(true), ConditionStatus::True);
        assert_eq!(ConditionStatus::from_bool(false), ConditionStatus::False);
    }

    #[test]
    fn a_bare_code_gets_upstreams_reason() {
        let cases = [
            (400, StatusReason::BadRequest),
            (404, StatusReason::NotFound),
            (409, StatusReason::Conflict),
            (422, StatusReason::Invalid),
            (500, StatusReason::InternalError),
            (504, StatusReason::Timeout),
            (418, StatusReason::Unknown),
            (200, StatusReason::Unknown),
        ];
        for (code, want) in cases {
            assert_eq!(StatusReason::for_code(code), want, "{code}");
        }
        assert_eq!(StatusReason::Unknown.as_str(), "", "a Status without a reason");
    }
}
