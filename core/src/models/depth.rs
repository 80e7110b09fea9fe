//! How deeply payloads and filters may nest, and the guard that keeps every walk over them
//! bounded.
//!
//! Serializing, validating, cloning and even dropping a `serde_json::Value` or a [`Filter`] is
//! recursive, and a stack overflow aborts the whole process (no `catch_unwind` sees it). So a
//! request is measured here with an explicit stack *before* anything recursive touches it, and
//! a part found too deep is taken apart iteratively ([`dismantle_value`],
//! [`dismantle_filter`]) instead of being dropped, then refused with
//! [`StorageError::BadRequest`] naming the limit. The client runs this guard before a request
//! is queued ([`bound`] on the whole request), so no rro thread ever holds a value deeper than
//! the limits; the storage engine checks again at its own edge for callers that use it
//! directly.
//!
//! Depth counts containers: a scalar is 0 deep, `[]` and `{}` are 1, `{"a": {"b": 1}}` is 2.
//! A payload is an object, so its depth is at least 1. A filter is 1 deep, and each filter used
//! as a condition or inside `nested` adds 1.

use serde_json::Value;

use super::{
    Condition, CountRequest, DeleteVectors, Filter, Payload, PayloadUpdate, PointStruct,
    PointsSelector, RecommendRequest, ScrollRequest, SearchGroupsRequest, SearchRequest,
    UpsertPoints,
};
use crate::error::StorageError;

pub use super::filter::MAX_FILTER_DEPTH;

/// How deeply a stored payload may nest (objects and arrays, the payload object itself
/// counting 1). Every write that stores a payload (upsert, set and overwrite payload, with or
/// without a key) refuses a result deeper than this with [`StorageError::BadRequest`].
///
/// It is half of `serde_json`'s parser limit of 128, so that every payload the engine logs or
/// stores can be read back (the write-ahead log and segments keep payloads as JSON), with room
/// for any envelope around it.
pub const MAX_PAYLOAD_DEPTH: usize = 64;

/// The nesting depth of `value` (0 for a scalar), counted up to `limit + 1` at most: once a
/// container deeper than `limit` is seen the walk stops. Uses an explicit stack.
pub(crate) fn value_depth(value: &Value, limit: usize) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(depth);
        if depth > limit {
            break;
        }
        stack.extend(
            children
                .filter(|child| child.is_array() || child.is_object())
                .map(|child| (child, depth + 1)),
        );
    }
    deepest
}

/// The nesting depth of `payload` (at least 1: the payload object), counted up to
/// `limit + 1` at most.
pub(crate) fn payload_depth(payload: &Payload, limit: usize) -> usize {
    payload
        .values()
        .map(|value| 1 + value_depth(value, limit.saturating_sub(1)))
        .max()
        .unwrap_or(1)
}

/// The nesting depth of `filter` (1 for a filter without filters inside), counted up to
/// `limit + 1` at most.
pub(crate) fn filter_depth(filter: &Filter, limit: usize) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(filter, 1usize)];
    while let Some((filter, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if depth > limit {
            break;
        }
        stack.extend(inner_filters(filter).map(|inner| (inner, depth + 1)));
    }
    deepest
}

/// The filters directly inside `filter` (as conditions or in `nested`).
fn inner_filters(filter: &Filter) -> impl Iterator<Item = &Filter> {
    let lists = [
        filter.must.as_deref(),
        filter.should.as_deref(),
        filter.must_not.as_deref(),
        filter.min_should.as_ref().map(|m| m.conditions.as_slice()),
    ];
    lists
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|condition| match condition {
            Condition::Filter(inner) => Some(inner),
            Condition::Nested(nested) => Some(&nested.filter),
            _ => None,
        })
}

/// Check that `payload` nests at most [`MAX_PAYLOAD_DEPTH`] deep; `what` names it in the error.
pub(crate) fn check_payload(payload: &Payload, what: &str) -> Result<(), StorageError> {
    if payload_depth(payload, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH {
        return Err(too_deep_payload(what));
    }
    Ok(())
}

/// Check that `filter` nests at most [`MAX_FILTER_DEPTH`] deep.
pub(crate) fn check_filter(filter: &Filter) -> Result<(), StorageError> {
    if filter_depth(filter, MAX_FILTER_DEPTH) > MAX_FILTER_DEPTH {
        return Err(too_deep_filter());
    }
    Ok(())
}

fn too_deep_payload(what: &str) -> StorageError {
    StorageError::BadRequest(format!(
        "{what} nests deeper than {MAX_PAYLOAD_DEPTH} levels (MAX_PAYLOAD_DEPTH); flatten it"
    ))
}

fn too_deep_filter() -> StorageError {
    StorageError::BadRequest(format!(
        "filter nests deeper than {MAX_FILTER_DEPTH} levels (MAX_FILTER_DEPTH)"
    ))
}

/// Drop `value` without recursion: containers are emptied onto a heap stack first.
pub fn dismantle_value(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            // A scalar drops without recursion.
            _ => {}
        }
    }
}

/// Drop `payload` without recursion.
pub fn dismantle_payload(payload: Payload) {
    dismantle_value(Value::Object(payload));
}

/// Drop `filter` without recursion: inner filters are taken out onto a heap stack first.
pub fn dismantle_filter(filter: Filter) {
    let mut stack = vec![filter];
    while let Some(mut filter) = stack.pop() {
        let lists = [
            filter.must.take(),
            filter.should.take(),
            filter.must_not.take(),
            filter.min_should.take().map(|m| m.conditions),
        ];
        for condition in lists.into_iter().flatten().flatten() {
            match condition {
                Condition::Filter(inner) => stack.push(inner),
                Condition::Nested(nested) => stack.push(nested.filter),
                // Field, is_empty, is_null and has_id conditions hold no filter.
                _ => {}
            }
        }
    }
}

/// A part of a request that can nest without bound.
pub(crate) enum Deep<'a> {
    /// A payload to store.
    Payload(&'a mut Payload),
    /// A filter.
    Filter(&'a mut Filter),
}

/// Requests and their parts that hold payloads or filters.
pub(crate) trait DeepParts {
    /// Push every payload and filter of `self` onto `out`.
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>);
}

/// Refuse `request` if one of its payloads or filters nests deeper than its limit. A part
/// that does is taken out of `request` and dismantled without recursion, so that `request` can
/// then be dropped anywhere. Nothing recursive runs on a part before it passed.
pub(crate) fn bound<T: DeepParts + ?Sized>(request: &mut T) -> Result<(), StorageError> {
    let mut parts = Vec::new();
    request.deep_parts(&mut parts);
    let mut refused = None;
    for part in parts {
        let error = match part {
            Deep::Payload(payload) => check_payload(payload, "payload").err().inspect(|_| {
                dismantle_payload(std::mem::take(payload));
            }),
            Deep::Filter(filter) => check_filter(filter).err().inspect(|_| {
                dismantle_filter(std::mem::take(filter));
            }),
        };
        // Keep going after the first refusal: every too-deep part must be dismantled.
        if refused.is_none() {
            refused = error;
        }
    }
    refused.map_or(Ok(()), Err)
}

impl<T: DeepParts> DeepParts for Vec<T> {
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
        for item in self {
            item.deep_parts(out);
        }
    }
}

impl<T: DeepParts> DeepParts for Option<T> {
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
        if let Some(item) = self {
            item.deep_parts(out);
        }
    }
}

impl DeepParts for Filter {
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
        out.push(Deep::Filter(self));
    }
}

impl DeepParts for Payload {
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
        out.push(Deep::Payload(self));
    }
}

impl DeepParts for PointStruct {
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
        self.payload.deep_parts(out);
    }
}

impl DeepParts for UpsertPoints {
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
        self.points.deep_parts(out);
    }
}

impl DeepParts for PointsSelector {
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
        match self {
            PointsSelector::Points(_) => {}
            PointsSelector::Filter(filter) => filter.deep_parts(out),
        }
    }
}

impl DeepParts for PayloadUpdate {
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
        match self {
            PayloadUpdate::Set(set) | PayloadUpdate::Overwrite(set) => {
                set.payload.deep_parts(out);
                set.selector.deep_parts(out);
            }
            PayloadUpdate::Delete(delete) => delete.selector.deep_parts(out),
            PayloadUpdate::Clear(selector) => selector.deep_parts(out),
        }
    }
}

impl DeepParts for DeleteVectors {
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
        self.selector.deep_parts(out);
    }
}

impl DeepParts for super::UpdateOperation {
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
        use super::UpdateOperation as Op;
        match self {
            Op::Upsert(upsert) => upsert.deep_parts(out),
            Op::Delete(selector) | Op::ClearPayload(selector) => selector.deep_parts(out),
            Op::SetPayload(set) | Op::OverwritePayload(set) => {
                set.payload.deep_parts(out);
                set.selector.deep_parts(out);
            }
            Op::DeletePayload(delete) => delete.selector.deep_parts(out),
            Op::UpdateVectors(_) => {}
            Op::DeleteVectors(delete) => delete.deep_parts(out),
        }
    }
}

impl DeepParts for super::UpdateOperations {
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
        self.operations.deep_parts(out);
    }
}

/// Requests whose only deep part is an optional filter.
macro_rules! filter_only {
    ($($request:ty),*) => {$(
        impl DeepParts for $request {
            fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
                self.filter.deep_parts(out);
            }
        }
    )*};
}

filter_only!(
    super::FacetRequest,
    CountRequest,
    ScrollRequest,
    SearchRequest,
    RecommendRequest,
    SearchGroupsRequest
);

impl DeepParts for crate::protocol::Message {
    fn deep_parts<'a>(&'a mut self, out: &mut Vec<Deep<'a>>) {
        use crate::protocol::Message;
        // Exhaustive on purpose: a new request kind must say what it holds.
        match self {
            Message::UpsertPoints(e) => e.call.points.deep_parts(out),
            Message::DeletePoints(e) => e.call.selector.deep_parts(out),
            Message::Count(e) => e.call.request.deep_parts(out),
            Message::Scroll(e) => e.call.request.deep_parts(out),
            Message::Facet(e) => e.call.request.deep_parts(out),
            Message::UpdatePayload(e) => e.call.update.deep_parts(out),
            Message::DeleteVectors(e) => e.call.request.deep_parts(out),
            Message::UpdateBatch(e) => e.call.operations.deep_parts(out),
            Message::Search(e) => e.call.request.deep_parts(out),
            Message::SearchBatch(e) => e.call.requests.deep_parts(out),
            Message::Recommend(e) => e.call.request.deep_parts(out),
            Message::SearchGroups(e) => e.call.request.deep_parts(out),
            Message::GetPoints(_)
            | Message::UpdateVectors(_)
            | Message::CreateFieldIndex(_)
            | Message::DeleteFieldIndex(_)
            | Message::CreateCollection(_)
            | Message::ListCollections(_)
            | Message::CollectionInfo(_)
            | Message::WaitIndexReady(_)
            | Message::CollectionExists(_)
            | Message::DeleteCollection(_)
            | Message::UpdateAliases(_)
            | Message::UpdateCollection(_)
            | Message::ListAliases(_)
            | Message::ListCollectionAliases(_)
            | Message::HealthCheck(_)
            | Message::Flush(_)
            | Message::CreateSnapshot(_)
            | Message::ListSnapshots(_)
            | Message::DeleteSnapshot(_)
            | Message::RecoverSnapshot(_)
            | Message::CreateFullSnapshot(_)
            | Message::ListFullSnapshots(_)
            | Message::DeleteFullSnapshot(_)
            | Message::RecoverFullSnapshot(_) => {}
            #[cfg(feature = "test-requests")]
            Message::Sleep(_) | Message::Panic(_) | Message::HoldInstance(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Condition, Nested};

    fn nested_value(depth: usize) -> Value {
        let mut value = Value::from(1);
        for i in 0..depth {
            value = if i % 2 == 0 {
                Value::Array(vec![value])
            } else {
                let mut map = Payload::new();
                map.insert("k".into(), value);
                Value::Object(map)
            };
        }
        value
    }

    fn nested_filter(depth: usize) -> Filter {
        let mut filter = Filter::default();
        for i in 1..depth {
            filter = if i % 2 == 0 {
                Filter::must([Condition::Filter(filter)])
            } else {
                Filter::default().with_min_should(
                    [Condition::Nested(Nested {
                        key: "a".into(),
                        filter,
                    })],
                    1,
                )
            };
        }
        filter
    }

    /// Depth by recursion: the reference the iterative walks are checked against.
    fn reference_depth(value: &Value) -> usize {
        match value {
            Value::Array(items) => 1 + items.iter().map(reference_depth).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(reference_depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    #[test]
    fn depths_are_counted_like_the_recursive_definition() {
        for depth in 0..20 {
            let value = nested_value(depth);
            assert_eq!(value_depth(&value, 100), reference_depth(&value));
            assert_eq!(value_depth(&value, 100), depth);
            assert_eq!(filter_depth(&nested_filter(depth + 1), 100), depth + 1);
        }
        let wide = serde_json::json!({"a": [1, [2, [3]]], "b": {"c": {}}, "d": 5});
        assert_eq!(value_depth(&wide, 100), reference_depth(&wide));
        let Value::Object(payload) = wide else {
            unreachable!()
        };
        assert_eq!(payload_depth(&payload, 100), 4);
        assert_eq!(payload_depth(&Payload::new(), 100), 1);
    }

    #[test]
    fn limits_are_inclusive_and_the_walk_stops_past_them() {
        let mut payload = Payload::new();
        payload.insert("k".into(), nested_value(MAX_PAYLOAD_DEPTH - 1));
        assert_eq!(
            payload_depth(&payload, MAX_PAYLOAD_DEPTH),
            MAX_PAYLOAD_DEPTH
        );
        assert!(check_payload(&payload, "payload").is_ok());
        payload.insert("k".into(), nested_value(MAX_PAYLOAD_DEPTH));
        let error = check_payload(&payload, "payload").unwrap_err();
        assert!(error.to_string().contains("64 levels"), "{error}");
        assert!(check_filter(&nested_filter(MAX_FILTER_DEPTH)).is_ok());
        assert!(check_filter(&nested_filter(MAX_FILTER_DEPTH + 1)).is_err());
        // Far deeper than any stack could recurse: measured, refused and dropped iteratively.
        let deep = nested_value(200_000);
        assert_eq!(value_depth(&deep, 10), 11);
        dismantle_value(deep);
        let deep = nested_filter(200_000);
        assert_eq!(filter_depth(&deep, 10), 11);
        dismantle_filter(deep);
    }

    #[test]
    fn bound_refuses_and_empties_every_too_deep_part() {
        let deep = || {
            let mut deep = Payload::new();
            deep.insert("k".into(), nested_value(100_000));
            deep
        };
        let mut ok = Payload::new();
        ok.insert("k".into(), nested_value(3));
        let mut points = vec![
            PointStruct::new(1, vec![1.0]).with_payload(ok.clone()),
            PointStruct::new(2, vec![1.0]).with_payload(deep()),
            PointStruct::new(3, vec![1.0]).with_payload(deep()),
        ];
        let error = bound(&mut points).unwrap_err();
        assert!(error.to_string().contains("MAX_PAYLOAD_DEPTH"), "{error}");
        assert_eq!(points[0].payload.as_ref(), Some(&ok));
        assert_eq!(points[1].payload.as_ref(), Some(&Payload::new()));
        assert_eq!(points[2].payload.as_ref(), Some(&Payload::new()));
        // `points` drops here without recursing.

        let mut request = CountRequest::filter(nested_filter(100_000));
        let error = bound(&mut request).unwrap_err();
        assert!(error.to_string().contains("MAX_FILTER_DEPTH"), "{error}");
        assert_eq!(request.filter, Some(Filter::default()));

        let mut fine = CountRequest::filter(nested_filter(5));
        assert!(bound(&mut fine).is_ok());
        assert_eq!(fine.filter, Some(nested_filter(5)));
    }
}
