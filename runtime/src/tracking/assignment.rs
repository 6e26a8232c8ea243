//! Linear assignment: the minimum-cost matching of rows to columns, with the same answer as
//! scipy's `linear_sum_assignment` on ties.
//!
//! The algorithm is the shortest augmenting path method of Crouse ("On implementing 2D
//! rectangular assignment algorithms", IEEE TAES 52(4), 2016), the one scipy implements. When
//! several assignments cost the same, which one comes out depends on the order in which the
//! search visits columns; ByteTrack's associations depend on that choice (two boxes equally
//! far from a track), so this solver visits them in scipy's order: remaining columns from the
//! last, a tie between shortest paths going to a free column, a tall matrix solved transposed.
//! `lapjv` and `pathfinding::kuhn_munkres` find the same total cost but other assignments on
//! ties (and the latter takes integer weights only), so they cannot give scipy's matches.

/// A dense cost matrix, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct CostMatrix {
    rows: usize,
    columns: usize,
    costs: Vec<f64>,
}

impl CostMatrix {
    /// A `rows` × `columns` matrix filled with `cost`.
    pub fn filled(rows: usize, columns: usize, cost: f64) -> CostMatrix {
        CostMatrix { rows, columns, costs: vec![cost; rows * columns] }
    }

    /// A matrix from row-major costs; `None` when `costs` does not hold `rows × columns` values.
    pub fn from_rows(rows: usize, columns: usize, costs: Vec<f64>) -> Option<CostMatrix> {
        (costs.len() == rows * columns).then_some(CostMatrix { rows, columns, costs })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// The cost of matching `row` with `column`.
    pub fn get(&self, row: usize, column: usize) -> f64 {
        self.costs[row * self.columns + column]
    }

    /// Sets the cost of matching `row` with `column`.
    pub fn set(&mut self, row: usize, column: usize, cost: f64) {
        self.costs[row * self.columns + column] = cost;
    }

    fn transposed(&self) -> CostMatrix {
        let mut costs = Vec::with_capacity(self.costs.len());
        for column in 0..self.columns {
            costs.extend((0..self.rows).map(|row| self.get(row, column)));
        }
        CostMatrix { rows: self.columns, columns: self.rows, costs }
    }
}

/// The minimum-cost assignment of `matrix`: `min(rows, columns)` pairs `(row, column)`,
/// sorted by row, as `scipy.optimize.linear_sum_assignment` returns them. Costs must be finite
/// (ByteTrack's are in 0–1); an empty matrix gives no pairs.
///
/// ```
/// use inferx_runtime::tracking::assignment::{linear_sum_assignment, CostMatrix};
///
/// let costs = CostMatrix::from_rows(2, 3, vec![4.0, 1.0, 3.0, 2.0, 0.0, 5.0]).unwrap();
/// assert_eq!(linear_sum_assignment(&costs), [(0, 1), (1, 0)]);
/// // Equal costs everywhere: the identity, as scipy gives.
/// assert_eq!(linear_sum_assignment(&CostMatrix::filled(2, 2, 1.0)), [(0, 0), (1, 1)]);
/// ```
pub fn linear_sum_assignment(matrix: &CostMatrix) -> Vec<(usize, usize)> {
    if matrix.rows == 0 || matrix.columns == 0 {
        return Vec::new();
    }
    if matrix.columns < matrix.rows {
        // Solved as its transpose: one row per original column, then sorted by original row.
        let column_of_row = solve(&matrix.transposed());
        let mut pairs: Vec<(usize, usize)> =
            column_of_row.into_iter().enumerate().map(|(column, row)| (row, column)).collect();
        pairs.sort_unstable();
        return pairs;
    }
    solve(matrix).into_iter().enumerate().collect()
}

/// Crouse's shortest augmenting path for `rows <= columns`: the column of each row.
fn solve(matrix: &CostMatrix) -> Vec<usize> {
    let (rows, columns) = (matrix.rows, matrix.columns);
    // Shifted so the smallest cost is 0, as scipy does (the duals start at 0).
    let lowest = matrix.costs.iter().copied().fold(f64::INFINITY, f64::min);
    let cost: Vec<f64> = matrix.costs.iter().map(|value| value - lowest).collect();
    let mut search = Search {
        row_duals: vec![0.0; rows],
        column_duals: vec![0.0; columns],
        shortest: vec![f64::INFINITY; columns],
        path: vec![usize::MAX; columns],
        column_of_row: vec![usize::MAX; rows],
        row_of_column: vec![usize::MAX; columns],
        rows_seen: vec![false; rows],
        columns_seen: vec![false; columns],
        remaining: Vec::with_capacity(columns),
    };
    for current in 0..rows {
        let (sink, length) = search.augmenting_path(&cost, columns, current);
        search.row_duals[current] += length;
        for row in 0..rows {
            if search.rows_seen[row] && row != current {
                search.row_duals[row] += length - search.shortest[search.column_of_row[row]];
            }
        }
        for column in 0..columns {
            if search.columns_seen[column] {
                search.column_duals[column] -= length - search.shortest[column];
            }
        }
        // Flip the path's edges back to `current`.
        let mut column = sink;
        loop {
            let row = search.path[column];
            search.row_of_column[column] = row;
            std::mem::swap(&mut search.column_of_row[row], &mut column);
            if row == current {
                break;
            }
        }
    }
    search.column_of_row
}

/// The working state of [`solve`]; `usize::MAX` marks "none".
struct Search {
    row_duals: Vec<f64>,
    column_duals: Vec<f64>,
    shortest: Vec<f64>,
    path: Vec<usize>,
    column_of_row: Vec<usize>,
    row_of_column: Vec<usize>,
    rows_seen: Vec<bool>,
    columns_seen: Vec<bool>,
    remaining: Vec<usize>,
}

impl Search {
    /// The free column that ends the shortest augmenting path from `row`, and the path's
    /// length. Costs are finite, so a path always exists while `rows <= columns`.
    fn augmenting_path(&mut self, cost: &[f64], columns: usize, mut row: usize) -> (usize, f64) {
        let mut length = 0.0;
        // Columns from the last: a constant matrix then gives the identity (scipy#11602).
        self.remaining.clear();
        self.remaining.extend((0..columns).rev());
        self.rows_seen.fill(false);
        self.columns_seen.fill(false);
        self.shortest.fill(f64::INFINITY);
        loop {
            self.rows_seen[row] = true;
            let mut best = 0;
            let mut lowest = f64::INFINITY;
            for (position, &column) in self.remaining.iter().enumerate() {
                let reduced = length + cost[row * columns + column] - self.row_duals[row] - self.column_duals[column];
                if reduced < self.shortest[column] {
                    self.path[column] = row;
                    self.shortest[column] = reduced;
                }
                // On a tie, prefer a free column: it ends the search.
                if self.shortest[column] < lowest
                    || (self.shortest[column] == lowest && self.row_of_column[column] == usize::MAX)
                {
                    lowest = self.shortest[column];
                    best = position;
                }
            }
            length = lowest;
            let column = self.remaining[best];
            self.columns_seen[column] = true;
            self.remaining.swap_remove(best);
            if self.row_of_column[column] == usize::MAX {
                return (column, length);
            }
            row = self.row_of_column[column];
        }
    }
}

/// The matches of a thresholded assignment, as ByteTrack uses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matches {
    /// `(row, column)` pairs whose cost is at most the threshold, sorted by row.
    pub pairs: Vec<(usize, usize)>,
    /// Rows left without a match, ascending.
    pub unmatched_rows: Vec<usize>,
    /// Columns left without a match, ascending.
    pub unmatched_columns: Vec<usize>,
}

/// Assigns rows to columns and keeps the pairs costing at most `threshold`. Costs above the
/// threshold are first lowered to `threshold + 1e-4` (in `f32`, as supervision stores them), so
/// that a pair nobody will keep does not push a good pair aside: supervision's and
/// Ultralytics' `linear_assignment` do the same (the latter through `lap.lapjv`'s
/// `cost_limit`).
pub fn match_below(costs: &CostMatrix, threshold: f32) -> Matches {
    let (rows, columns) = (costs.rows(), costs.columns());
    let mut capped = costs.clone();
    let ceiling = f64::from((f64::from(threshold) + 1e-4) as f32);
    for value in &mut capped.costs {
        if *value as f32 > threshold {
            *value = ceiling;
        }
    }
    let mut row_matched = vec![false; rows];
    let mut column_matched = vec![false; columns];
    let mut pairs = Vec::new();
    for (row, column) in linear_sum_assignment(&capped) {
        if costs.get(row, column) as f32 <= threshold {
            row_matched[row] = true;
            column_matched[column] = true;
            pairs.push((row, column));
        }
    }
    let unmatched = |matched: Vec<bool>| matched.iter().enumerate().filter(|(_, &m)| !m).map(|(i, _)| i).collect();
    Matches { pairs, unmatched_rows: unmatched(row_matched), unmatched_columns: unmatched(column_matched) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(matrix: &CostMatrix, pairs: &[(usize, usize)]) -> f64 {
        pairs.iter().map(|&(row, column)| matrix.get(row, column)).sum()
    }

    /// Every assignment of `min(rows, columns)` pairs, by brute force.
    fn best_total(matrix: &CostMatrix) -> f64 {
        fn go(matrix: &CostMatrix, row: usize, used: &mut Vec<bool>, transposed: bool) -> f64 {
            let (rows, columns) =
                if transposed { (matrix.columns, matrix.rows) } else { (matrix.rows, matrix.columns) };
            if row == rows {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for column in 0..columns {
                if !used[column] {
                    used[column] = true;
                    let cost = if transposed { matrix.get(column, row) } else { matrix.get(row, column) };
                    best = best.min(cost + go(matrix, row + 1, used, transposed));
                    used[column] = false;
                }
            }
            best
        }
        let transposed = matrix.columns < matrix.rows;
        let columns = matrix.rows.max(matrix.columns);
        go(matrix, 0, &mut vec![false; columns], transposed)
    }

    #[test]
    fn the_assignment_is_optimal_on_small_matrices() {
        // A fixed pseudo-random sequence (xorshift), with repeated values to make ties.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 7) as f64 / 7.0
        };
        for (rows, columns) in [(1, 1), (2, 3), (3, 2), (4, 4), (5, 3), (3, 6), (6, 6)] {
            for _ in 0..20 {
                let costs = (0..rows * columns).map(|_| next()).collect();
                let matrix = CostMatrix::from_rows(rows, columns, costs).unwrap();
                let pairs = linear_sum_assignment(&matrix);
                assert_eq!(pairs.len(), rows.min(columns));
                assert!((total(&matrix, &pairs) - best_total(&matrix)).abs() < 1e-9, "{matrix:?} -> {pairs:?}");
            }
        }
    }

    #[test]
    fn ties_resolve_as_scipy_resolves_them() {
        // Answers of scipy 1.17 `linear_sum_assignment` on these matrices.
        type Case = (usize, usize, Vec<f64>, Vec<(usize, usize)>);
        let cases: [Case; 4] = [
            (3, 3, vec![1.0; 9], vec![(0, 0), (1, 1), (2, 2)]),
            (2, 3, vec![0.5, 0.5, 0.5, 0.5, 0.5, 0.5], vec![(0, 0), (1, 1)]),
            (3, 2, vec![0.2, 0.2, 0.2, 0.2, 0.2, 0.2], vec![(0, 0), (1, 1)]),
            (2, 2, vec![0.0, 0.0, 0.0, 1.0], vec![(0, 1), (1, 0)]),
        ];
        for (rows, columns, costs, expected) in cases {
            let matrix = CostMatrix::from_rows(rows, columns, costs).unwrap();
            assert_eq!(linear_sum_assignment(&matrix), expected, "{matrix:?}");
        }
    }

    #[test]
    fn pairs_above_the_threshold_are_not_kept_and_do_not_push_good_pairs_aside() {
        // Uncapped, the cheapest total pairs row 0 with column 1 and row 1 with column 0
        // (0.5 + 0.5 < 0.1 + 5.0); capped at 0.8 + 1e-4, row 0 keeps its close match.
        let costs = CostMatrix::from_rows(2, 2, vec![0.1, 0.5, 0.5, 5.0]).unwrap();
        assert_eq!(linear_sum_assignment(&costs), [(0, 1), (1, 0)]);
        let matches = match_below(&costs, 0.8);
        assert_eq!(matches.pairs, [(0, 0)]);
        assert_eq!(matches.unmatched_rows, [1]);
        assert_eq!(matches.unmatched_columns, [1]);
        // A cost equal to the threshold is kept.
        let edge = CostMatrix::from_rows(1, 1, vec![f64::from(0.8_f32)]).unwrap();
        assert_eq!(match_below(&edge, 0.8).pairs, [(0, 0)]);
        let empty = CostMatrix::filled(0, 3, 0.0);
        assert_eq!(match_below(&empty, 0.8).unmatched_columns, [0, 1, 2]);
    }
}
