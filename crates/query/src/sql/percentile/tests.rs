//! Sketch groups: states merge to what updates give, and weights count.
use datafusion::arrow::array::Int64Array;

use super::*;

fn groups() -> SketchGroups {
    SketchGroups {
        fraction: 0.5,
        weighted: false,
        mode: Mode::Percentile,
        sketches: Vec::new(),
    }
}

/// Skipping partial aggregation turns rows into one-value states; merging those must give
/// what updating with the rows gives, nulls and filtered rows left out either way.
#[test]
fn rows_turned_into_states_merge_to_the_same_answer_as_updates() {
    let values: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(5),
        None,
        Some(7),
        Some(9),
        Some(1_000),
    ]));
    let filter = BooleanArray::from(vec![true, true, true, false, true]);
    let group_of_row = [0, 0, 0, 1, 1];

    let mut updated = groups();
    updated
        .update_batch(&[Arc::clone(&values)], &group_of_row, Some(&filter), 2)
        .unwrap();
    let mut merged = groups();
    let states = merged.convert_to_state(&[values], Some(&filter)).unwrap();
    assert_eq!(states[0].null_count(), 2, "the null and the filtered row");
    merged.merge_batch(&states, &group_of_row, 2).unwrap();

    let expected = updated.evaluate(EmitTo::All).unwrap();
    let got = merged.evaluate(EmitTo::All).unwrap();
    assert_eq!(
        got.as_primitive::<Float64Type>(),
        expected.as_primitive::<Float64Type>()
    );
    let medians: Vec<Option<f64>> = got.as_primitive::<Float64Type>().iter().collect();
    assert_eq!(medians, vec![Some(5.0), Some(1_000.0)]);
}

/// A value of weight 9 stands for nine values: the weighted median of 1 (once) and 10
/// (nine times) is 10, where the plain median of the two rows is 1; a null weight drops
/// its row.
#[test]
fn weights_count_each_value_that_many_times() {
    let values: ArrayRef = Arc::new(Int64Array::from(vec![1, 10, 500]));
    let weights: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(9), None]));
    let mut weighted = SketchGroups {
        fraction: 0.5,
        weighted: true,
        mode: Mode::Percentile,
        sketches: Vec::new(),
    };
    weighted
        .update_batch(&[Arc::clone(&values), weights], &[0, 0, 0], None, 1)
        .unwrap();
    let mut plain = groups();
    plain
        .update_batch(&[values.slice(0, 2)], &[0, 0], None, 1)
        .unwrap();
    let median = |mut g: SketchGroups| {
        g.evaluate(EmitTo::All)
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(0)
    };
    assert_eq!(median(weighted), 10.0);
    assert_eq!(median(plain), 1.0);
}

/// Sketches of the parts, merged, answer what the whole's values answer: the same number,
/// not a close one, for every fraction and for a part with no values.
#[tokio::test]
async fn merged_sketches_of_parts_answer_exactly_what_the_whole_answers() {
    let context = datafusion::prelude::SessionContext::new();
    for function in functions() {
        context.register_udaf(function);
    }
    let values: Vec<String> = (0..500)
        .map(|i| format!("({}, {}.5, {})", i % 7, (i * 37) % 1000, 1 + i % 3))
        .chain(["(9, NULL, 1)".to_owned()])
        .collect();
    context
        .sql(&format!(
            "CREATE TABLE t (b BIGINT, v DOUBLE, w BIGINT) AS VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let one = |sql: String| {
        let context = context.clone();
        async move {
            let batches = context.sql(&sql).await.unwrap().collect().await.unwrap();
            batches[0].column(0).as_primitive::<Float64Type>().value(0)
        }
    };
    for fraction in [0.0, 0.5, 0.9, 0.99, 1.0] {
        let whole = one(format!(
            "SELECT weighted_percentile(v, w, {fraction}) FROM t"
        ))
        .await;
        let merged = one(format!(
            "SELECT merged_percentile(s, {fraction}) FROM \
             (SELECT b, weighted_percentile_sketch(v, w) AS s FROM t GROUP BY b) AS parts"
        ))
        .await;
        assert_eq!(merged, whole, "fraction {fraction}");
    }
}
