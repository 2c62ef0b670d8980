//! Arrow columns in and out: the few shapes LeRobot's frame and episode
//! tables use (scalars, fixed-size float lists, string lists), read
//! leniently (any float or integer width a foreign writer chose) and
//! written as LeRobot writes them.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch};
use arrow_schema::{DataType, Field};

use super::LerobotError;

/// A fixed-size list of `f32` of width `width` over `values` (row-major),
/// as HF datasets stores a feature of shape `[width]`.
pub fn f32_rows(values: Vec<f32>, width: usize) -> Result<ArrayRef, LerobotError> {
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let width = i32::try_from(width)
        .map_err(|_| LerobotError::Invalid(format!("a feature of {width} values is too wide")))?;
    let list = FixedSizeListArray::try_new(item, width, Arc::new(Float32Array::from(values)), None)
        .map_err(|e| LerobotError::Invalid(e.to_string()))?;
    Ok(Arc::new(list))
}

/// The data type of [`f32_rows`] of `width`.
pub fn f32_rows_type(width: usize) -> DataType {
    DataType::FixedSizeList(
        Arc::new(Field::new("item", DataType::Float32, true)),
        width as i32,
    )
}

/// The column `name` of `batch` (from `file`), or an error naming both.
pub fn column<'a>(
    batch: &'a RecordBatch,
    name: &str,
    file: &Path,
) -> Result<&'a ArrayRef, LerobotError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| LerobotError::format(file, format!("no column `{name}`")))
}

/// Refuses a column with nulls: every frame must have every value.
fn no_nulls(a: &dyn Array, name: &str, file: &Path) -> Result<(), LerobotError> {
    if a.null_count() > 0 {
        return Err(LerobotError::format(
            file,
            format!("column `{name}` has {} null values", a.null_count()),
        ));
    }
    Ok(())
}

/// The values of a scalar numeric column as `f64` (any integer or float
/// type); booleans read as 0 and 1.
pub fn numbers(a: &dyn Array, name: &str, file: &Path) -> Result<Vec<f64>, LerobotError> {
    no_nulls(a, name, file)?;
    macro_rules! prim {
        ($t:ty) => {
            a.as_primitive_opt::<$t>()
                .map(|p| p.values().iter().map(|v| *v as f64).collect())
        };
    }
    let out: Option<Vec<f64>> = match a.data_type() {
        DataType::Float32 => prim!(Float32Type),
        DataType::Float64 => prim!(Float64Type),
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Boolean => a.as_boolean_opt().map(|b| {
            b.iter()
                .map(|v| f64::from(u8::from(v == Some(true))))
                .collect()
        }),
        // A scalar some writers store as a list of one value.
        DataType::FixedSizeList(..) | DataType::List(_) | DataType::LargeList(_) => {
            let (flat, width) = vectors(a, name, file)?;
            if width != 1 {
                return Err(LerobotError::format(
                    file,
                    format!("column `{name}` holds {width} values a frame, expected 1"),
                ));
            }
            Some(flat.into_iter().map(f64::from).collect())
        }
        _ => None,
    };
    out.ok_or_else(|| {
        LerobotError::format(
            file,
            format!("column `{name}` is {}, not a number", a.data_type()),
        )
    })
}

/// The values of a list column of floats (fixed-size or not; `f32` or
/// `f64`) as row-major `f32` with the common width; rows of different
/// lengths are an error. A scalar float column is a width of 1.
pub fn vectors(a: &dyn Array, name: &str, file: &Path) -> Result<(Vec<f32>, usize), LerobotError> {
    no_nulls(a, name, file)?;
    let rows: Vec<ArrayRef> = if let Some(l) = a.as_fixed_size_list_opt() {
        (0..l.len()).map(|i| l.value(i)).collect()
    } else if let Some(l) = a.as_list_opt::<i32>() {
        l.iter().flatten().collect()
    } else if let Some(l) = a.as_list_opt::<i64>() {
        l.iter().flatten().collect()
    } else {
        let v = numbers(a, name, file)?;
        // f64 -> f32 as LeRobot's float32 features are; finiteness is
        // checked by the caller, which names the frame.
        return Ok((v.into_iter().map(|x| x as f32).collect(), 1));
    };
    let width = rows.first().map_or(0, |r| r.len());
    let mut out = Vec::with_capacity(rows.len() * width);
    for (i, r) in rows.iter().enumerate() {
        if r.len() != width {
            return Err(LerobotError::format(
                file,
                format!(
                    "column `{name}`: row {i} holds {} values, row 0 {width}",
                    r.len()
                ),
            ));
        }
        no_nulls(r.as_ref(), name, file)?;
        match r.data_type() {
            DataType::Float32 => out.extend(r.as_primitive::<Float32Type>().values().iter()),
            DataType::Float64 => out.extend(
                r.as_primitive::<Float64Type>()
                    .values()
                    .iter()
                    .map(|v| *v as f32),
            ),
            t => {
                return Err(LerobotError::format(
                    file,
                    format!("column `{name}` holds {t}, not floats"),
                ));
            }
        }
    }
    Ok((out, width))
}
