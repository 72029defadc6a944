//! Rewrites of DataFusion's logical plans for SQL that DataFusion 55 plans but cannot
//! run, or names unlike what was written.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, DataFusionError, TableReference};
use datafusion::logical_expr::{
    Expr, JoinType, LogicalPlan, Projection, Subquery, SubqueryAlias, Unnest,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    Ident, TableAlias, TableAliasColumnDef, TableFactor, VisitMut, VisitorMut,
};

/// Names the column of an `unnest(list)` in FROM that has no column alias `unnest`, as
/// DuckDB and PostgreSQL do (DataFusion's name is `UNNEST(outer_ref(c.tags))`): the
/// statement reads as if `AS unnest(unnest)`, or `AS t(unnest)` under alias `t`.
pub(super) fn name_unnest_columns(statement: &mut DfStatement) {
    struct Namer;
    impl VisitorMut for Namer {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::UNNEST {
                alias, array_exprs, ..
            } = factor
                && array_exprs.len() == 1
            {
                let alias = alias.get_or_insert_with(|| TableAlias {
                    explicit: true,
                    name: Ident::new("unnest"),
                    columns: Vec::new(),
                    at: None,
                });
                if alias.columns.is_empty() {
                    alias.columns.push(TableAliasColumnDef::from_name("unnest"));
                }
            }
            ControlFlow::Continue(())
        }
    }
    match statement {
        DfStatement::Statement(statement) => {
            let _ = statement.visit(&mut Namer);
        }
        DfStatement::Explain(explain) => name_unnest_columns(&mut explain.statement),
        _ => {}
    }
}

/// Plans a lateral unnest, `FROM clips c, unnest(c.tags) AS t(tag)`, as an unnest of the
/// table it follows. DataFusion plans it as a join with a subquery that reads the outer
/// row (`outer_ref(c.tags)`), which its physical planner refuses ("Physical plan does not
/// support logical expression OuterReferenceColumn"). Each output row is one element of
/// one row's list, with that row's columns; a row whose list is empty or null gives none
/// (as an inner join with the elements would).
#[derive(Debug)]
pub(super) struct LateralUnnest;

impl AnalyzerRule for LateralUnnest {
    fn analyze(
        &self,
        plan: LogicalPlan,
        _config: &ConfigOptions,
    ) -> Result<LogicalPlan, DataFusionError> {
        plan.transform_up_with_subqueries(unnest_lateral_join)
            .data()
    }

    fn name(&self) -> &str {
        "pail_lateral_unnest"
    }
}

/// A join of a table with a lateral unnest of its columns, as the unnest alone; other
/// nodes as they are.
fn unnest_lateral_join(node: LogicalPlan) -> Result<Transformed<LogicalPlan>, DataFusionError> {
    let LogicalPlan::Join(join) = &node else {
        return Ok(Transformed::no(node));
    };
    if join.join_type != JoinType::Inner || !join.on.is_empty() || join.filter.is_some() {
        return Ok(Transformed::no(node));
    }
    let (alias, subquery) = match join.right.as_ref() {
        LogicalPlan::SubqueryAlias(SubqueryAlias { alias, input, .. }) => match input.as_ref() {
            LogicalPlan::Subquery(subquery) => (Some(alias.clone()), subquery),
            _ => return Ok(Transformed::no(node)),
        },
        LogicalPlan::Subquery(subquery) => (None, subquery),
        _ => return Ok(Transformed::no(node)),
    };
    let Subquery { subquery, .. } = subquery;
    let Some(unnested) = over_table(subquery, &join.left, alias.as_ref())? else {
        return Ok(Transformed::no(node));
    };
    // The join's columns: the table's as they were, then the unnest's under its alias.
    let mut exprs: Vec<Expr> = join
        .left
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    for (qualifier, field) in subquery.schema().iter() {
        let qualifier: Option<TableReference> = alias.clone().or_else(|| qualifier.cloned());
        exprs.push(Expr::Column(Column::new(qualifier, field.name())));
    }
    let projection = Projection::try_new(exprs, Arc::new(unnested))?;
    Ok(Transformed::yes(LogicalPlan::Projection(projection)))
}

/// The lateral subquery planned over `table` instead of over one empty row: each of its
/// projections also passes the table's columns on, and its outer references read them.
/// None for a subquery that is not only projections and unnests of the table's columns.
/// The subquery's own columns come out under `alias` (so `t(start)` and `c.start` differ).
fn over_table(
    plan: &LogicalPlan,
    table: &Arc<LogicalPlan>,
    alias: Option<&TableReference>,
) -> Result<Option<LogicalPlan>, DataFusionError> {
    Ok(Some(match plan {
        LogicalPlan::EmptyRelation(empty) if empty.produce_one_row => table.as_ref().clone(),
        LogicalPlan::Projection(projection) => {
            let Some(input) = over_table(&projection.input, table, None)? else {
                return Ok(None);
            };
            let mut exprs = Vec::with_capacity(projection.expr.len());
            for expr in &projection.expr {
                let mut foreign = false;
                let expr = expr
                    .clone()
                    .transform_up(|expr| match expr {
                        Expr::OuterReferenceColumn(_, column) => {
                            foreign |= !table.schema().has_column(&column);
                            Ok(Transformed::yes(Expr::Column(column)))
                        }
                        other => Ok(Transformed::no(other)),
                    })
                    .data()?;
                if foreign {
                    return Ok(None);
                }
                let expr = match alias {
                    Some(alias) => {
                        let name = projection.schema.field(exprs.len()).name();
                        expr.unalias().alias_qualified(Some(alias.clone()), name)
                    }
                    None => expr,
                };
                exprs.push(expr);
            }
            exprs.extend(table.schema().columns().into_iter().map(Expr::Column));
            LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(input))?)
        }
        LogicalPlan::Unnest(unnest) => {
            let Some(input) = over_table(&unnest.input, table, None)? else {
                return Ok(None);
            };
            let options = unnest.options.clone().with_preserve_nulls(false);
            LogicalPlan::Unnest(Unnest::try_new(
                Arc::new(input),
                unnest.exec_columns.clone(),
                options,
            )?)
        }
        _ => return Ok(None),
    }))
}

/// The plan with each output column that reads a struct field and has no alias named as
/// it was written, `file.path`, instead of DataFusion's `photos.file[path]`; with its
/// table (`c.file.path`) where two would have the same name.
pub(super) fn name_struct_fields(plan: LogicalPlan) -> Result<LogicalPlan, DataFusionError> {
    let Some(projection) = top_projection(&plan) else {
        return Ok(plan);
    };
    let schema = plan.schema().clone();
    if projection.expr.len() != schema.fields().len() {
        return Ok(plan);
    }
    let names: Vec<Option<(String, String)>> = projection
        .expr
        .iter()
        .zip(schema.fields())
        .map(|(expr, field)| match expr {
            Expr::Alias(_) => None,
            _ => dotted(field.name()),
        })
        .collect();
    if names.iter().all(Option::is_none) {
        return Ok(plan);
    }
    let short = |index: usize| names[index].as_ref().map(|(_, short)| short.as_str());
    let exprs: Vec<Expr> = schema
        .iter()
        .enumerate()
        .map(|(index, (qualifier, field))| {
            let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
            let Some((long, short_name)) = &names[index] else {
                return column;
            };
            let clash = (0..names.len()).any(|other| {
                other != index
                    && (short(other) == Some(short_name)
                        || schema.field(other).name() == short_name)
            });
            let name = if clash { long } else { short_name };
            column.alias_qualified(qualifier.cloned(), name)
        })
        .collect();
    Ok(LogicalPlan::Projection(Projection::try_new(
        exprs,
        Arc::new(plan),
    )?))
}

/// The projection that makes a query's output columns, under the nodes that keep them
/// (ORDER BY, LIMIT, DISTINCT).
fn top_projection(plan: &LogicalPlan) -> Option<&Projection> {
    match plan {
        LogicalPlan::Projection(projection) => Some(projection),
        LogicalPlan::Sort(sort) => top_projection(&sort.input),
        LogicalPlan::Limit(limit) => top_projection(&limit.input),
        LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(input)) => {
            top_projection(input)
        }
        _ => None,
    }
}

/// For DataFusion's name of a struct field read, `photos.file[path]` (or `c.file[a][b]`),
/// the name as written with and without the table: (`photos.file.path`, `file.path`).
/// None for any other name.
fn dotted(name: &str) -> Option<(String, String)> {
    let (head, rest) = name.split_once('[')?;
    let rest = rest.strip_suffix(']')?;
    let fields: Vec<&str> = rest.split("][").collect();
    let plain = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    };
    if !fields.iter().all(|field| plain(field)) {
        return None;
    }
    let column = match head.rsplit_once('.') {
        Some((_, column)) => column,
        None => head,
    };
    if !plain(column) || head.contains(['(', ')', ' ', '[', ']']) {
        return None;
    }
    Some((
        format!("{head}.{}", fields.join(".")),
        format!("{column}.{}", fields.join(".")),
    ))
}

#[cfg(test)]
mod tests {
    use super::dotted;

    #[test]
    fn struct_field_names_are_dotted_as_written() {
        let pair = |long: &str, short: &str| Some((long.to_string(), short.to_string()));
        assert_eq!(
            dotted("photos.file[path]"),
            pair("photos.file.path", "file.path")
        );
        assert_eq!(dotted("c.meta[a][b]"), pair("c.meta.a.b", "meta.a.b"));
        assert_eq!(dotted("file[path]"), pair("file.path", "file.path"));
        assert_eq!(dotted("clips.tags[Int64(1)]"), None);
        assert_eq!(dotted("photos.file[size] + Int64(0)"), None);
        assert_eq!(dotted("path"), None);
    }
}
