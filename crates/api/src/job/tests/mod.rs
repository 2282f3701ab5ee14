//! Job tests. Helpers build Jobs from JSON the way the API server would receive them.

mod create;
mod defaults;
mod status;
mod update;

use runlet_codec::Job;
use serde_json::{Value, json};

use super::{default_job, prepare_for_create};

pub(super) const UID: &str = "uid-1";

/// The seed's `pi` Job, as posted.
pub(super) fn pi() -> Value {
    json!({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pi"},"spec":{"template":{"spec":{"containers":[{"name":"pi","image":"perl","command":["perl","-Mbignum=bpi","-wle","print bpi(2000)"]}],"restartPolicy":"Never"}},"backoffLimit":4}})
}

pub(super) fn decode(value: &Value) -> Job {
    runlet_codec::decode_job(value).expect("test JSON decodes").object
}

/// Decoded, defaulted, in namespace `default`, prepared for create with uid [`UID`].
pub(super) fn created(value: &Value) -> Job {
    let mut job = decode(value);
    job.metadata.namespace = Some("default".to_string());
    default_job(&mut job);
    prepare_for_create(&mut job, UID);
    job
}

/// `pi` with a JSON merge applied to it (objects merged, everything else replaced; `null` deletes).
pub(super) fn pi_with(patch: Value) -> Value {
    let mut base = pi();
    merge(&mut base, patch);
    base
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (k, v) in patch {
                if v.is_null() {
                    target.remove(&k);
                } else {
                    merge(target.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

pub(super) fn strings(errs: &[crate::field::FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}
