//! `runlet get`: server-side Tables for the default output, objects for the others, and `-w`.

use futures::StreamExt;
use serde_json::Value;

use super::{Ctx, items, no_resources};
use crate::Ui;
use crate::args::Selection;
use crate::conn::ConnArgs;
use crate::error::{CliError, Result};
use crate::jsonpath::{self, Template};
use crate::output::{self, Output};
use crate::request::{ACCEPT_TABLE, with_query};
use crate::table::{self, TableOptions};
use crate::tabwriter::{self, TABLE};

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// TYPE[,TYPE...] [NAME...], or TYPE/NAME... (types: jobs, pods, events, nodes, namespaces, all, ...)
    pub resources: Vec<String>,
    /// Output format: wide, yaml, json, name, jsonpath=TEMPLATE, custom-columns=HEADER:PATH,...
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Label selector, e.g. -l job-name=pi,tier!=web
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Field selector, e.g. --field-selector status.phase=Running
    #[arg(long)]
    pub field_selector: Option<String>,
    /// List across all namespaces
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// After listing, watch for changes
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Watch for changes without listing first
    #[arg(long)]
    pub watch_only: bool,
    /// Sort by a JSONPath expression, e.g. --sort-by=.metadata.creationTimestamp
    #[arg(long)]
    pub sort_by: Option<String>,
    /// Show all labels as the last column
    #[arg(long)]
    pub show_labels: bool,
    /// Labels to show as columns, e.g. -L job-name
    #[arg(short = 'L', long = "label-columns", value_delimiter = ',')]
    pub label_columns: Vec<String>,
    /// Do not print headers
    #[arg(long)]
    pub no_headers: bool,
    /// Accepted for old scripts: finished pods are always listed
    #[arg(short = 'a', long)]
    pub show_all: bool,
    /// Files naming the objects to get
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    /// Descend into directories given with -f
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// List in pages of this many objects (0: all at once), so neither side holds a huge answer at once
    #[arg(long, default_value_t = 500)]
    pub chunk_size: usize,
    #[command(flatten)]
    pub conn: ConnArgs,
}

struct Plan<'a> {
    args: &'a GetArgs,
    output: Output,
    sort: Option<Template>,
    /// `None` across all namespaces.
    namespace: Option<String>,
}

pub async fn run(args: GetArgs, ui: &mut Ui) -> Result<()> {
    let ctx = Ctx::new(&args.conn).await?;
    let mut selections = if args.filename.is_empty() {
        ctx.selections(&args.resources, &ctx.missing_type("get"))?
    } else {
        let mut sels: Vec<Selection> = Vec::new();
        for (_, t) in ctx.targets_from_files(&args.filename, args.recursive)? {
            match sels.iter_mut().find(|s| s.resource == t.resource) {
                Some(s) => s.names.push(t.name),
                None => sels.push(Selection { resource: t.resource, names: vec![t.name], from_category: false }),
            }
        }
        sels
    };
    let plan = Plan {
        args: &args,
        output: Output::parse(args.output.as_deref())?,
        sort: args.sort_by.as_deref().map(jsonpath::relaxed).transpose()?,
        namespace: if args.all_namespaces { None } else { Some(ctx.ns().to_string()) },
    };
    if args.watch || args.watch_only {
        if selections.len() != 1 || selections[0].names.len() > 1 {
            return Err(CliError::other(
                "you may only specify a single resource type (and at most one name) with --watch",
            ));
        }
        return watch(&ctx, &plan, selections.remove(0), ui).await;
    }
    if plan.output.is_table() {
        tables(&ctx, &plan, &selections, ui).await
    } else {
        objects(&ctx, &plan, &selections, ui).await
    }
}

impl Plan<'_> {
    fn collection(&self, sel: &Selection, extra: &[(&str, &str)]) -> String {
        let mut params: Vec<(&str, &str)> = vec![
            ("labelSelector", self.args.selector.as_deref().unwrap_or("")),
            ("fieldSelector", self.args.field_selector.as_deref().unwrap_or("")),
        ];
        if self.sort.is_some() {
            params.push(("includeObject", "Object"));
        }
        params.extend_from_slice(extra);
        with_query(&sel.resource.collection_path(self.namespace.as_deref()), &params)
    }

    /// Every object of the selection, fetched `--chunk-size` at a time and merged into one list (or Table).
    async fn list(&self, ctx: &Ctx, sel: &Selection, extra: &[(&str, &str)], table: bool) -> Result<Value> {
        let limit = self.args.chunk_size.to_string();
        let mut token = String::new();
        let mut merged: Option<Value> = None;
        loop {
            let mut params = extra.to_vec();
            if self.args.chunk_size > 0 {
                params.extend([("limit", limit.as_str()), ("continue", token.as_str())]);
            }
            let uri = self.collection(sel, &params);
            let page = if table { ctx.conn.api.get_table(&uri).await? } else { ctx.conn.api.get(&uri).await? };
            let next = continue_token(&page).map(str::to_string);
            match merged.as_mut() {
                None => merged = Some(page),
                Some(all) => append_page(all, page),
            }
            match next {
                Some(next) if self.args.chunk_size > 0 => token = next,
                _ => break,
            }
        }
        let mut all = merged.unwrap_or(Value::Null);
        if let Some(meta) = all.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("continue");
        }
        Ok(all)
    }

    fn item(&self, ctx: &Ctx, sel: &Selection, name: &str) -> String {
        let ns = self.namespace.as_deref().unwrap_or(ctx.ns());
        let include = if self.sort.is_some() { "Object" } else { "" };
        with_query(&sel.resource.item_path(ns, name), &[("includeObject", include)])
    }

    fn table_options(&self, sel: &Selection, with_kind: bool) -> TableOptions {
        TableOptions {
            wide: matches!(self.output, Output::Table { wide: true }),
            with_namespace: self.namespace.is_none() && sel.resource.namespaced,
            kind_prefix: with_kind.then(|| sel.resource.kind_ref()),
            show_labels: self.args.show_labels,
            label_columns: self.args.label_columns.clone(),
            no_headers: self.args.no_headers,
        }
    }

    fn nothing_found(&self, selections: &[Selection]) -> String {
        let namespaced = selections.iter().any(|s| s.resource.namespaced);
        no_resources(self.namespace.as_deref().filter(|_| namespaced))
    }
}

/// `metadata.continue` of a list page, when more pages follow.
fn continue_token(page: &Value) -> Option<&str> {
    page.pointer("/metadata/continue").and_then(Value::as_str).filter(|t| !t.is_empty())
}

/// Adds a later page's rows (Table) or items (list) to the first page's.
fn append_page(all: &mut Value, page: Value) {
    let field = if all.get("rows").is_some() { "rows" } else { "items" };
    let Value::Object(mut page) = page else { return };
    let Some(Value::Array(more)) = page.remove(field) else { return };
    match all.get_mut(field).and_then(Value::as_array_mut) {
        Some(list) => list.extend(more),
        None => {
            if let Some(o) = all.as_object_mut() {
                o.insert(field.to_string(), Value::Array(more));
            }
        }
    }
}

/// One Table per resource (the rows of each named object merged), printed one after another.
async fn tables(ctx: &Ctx, plan: &Plan<'_>, selections: &[Selection], ui: &mut Ui) -> Result<()> {
    let with_kind = selections.len() > 1 || selections.iter().any(|s| s.from_category);
    let mut printed = 0usize;
    let mut had_error = false;
    for sel in selections {
        let mut table = if sel.names.is_empty() {
            table::as_table(plan.list(ctx, sel, &[], true).await?, jiff::Timestamp::now())
        } else {
            let mut merged: Option<Value> = None;
            for name in &sel.names {
                match ctx
                    .conn
                    .api
                    .get_table(&plan.item(ctx, sel, name))
                    .await
                    .map(|t| table::as_table(t, jiff::Timestamp::now()))
                {
                    Ok(t) => match merged.as_mut().and_then(|m| m.get_mut("rows")).and_then(Value::as_array_mut) {
                        Some(rows) => rows.extend(table::rows(&t).into_iter().cloned()),
                        None => merged = Some(t),
                    },
                    Err(e) => {
                        had_error = true;
                        ui.error(&e);
                    }
                }
            }
            match merged {
                Some(t) => t,
                None => continue,
            }
        };
        if let Some(path) = &plan.sort {
            table::sort_rows(&mut table, path)?;
        }
        if table::rows(&table).is_empty() {
            continue;
        }
        let text = table::lines(&table, &plan.table_options(sel, with_kind), true);
        if printed > 0 {
            ui.out("\n");
        }
        ui.out(&tabwriter::align(&text, TABLE, &mut Vec::new()));
        printed += 1;
    }
    if printed == 0 && !had_error {
        ui.note(&plan.nothing_found(selections));
    }
    Ok(())
}

/// Objects for `-o yaml|json|name|jsonpath|custom-columns`.
async fn objects(ctx: &Ctx, plan: &Plan<'_>, selections: &[Selection], ui: &mut Ui) -> Result<()> {
    let mut found: Vec<(String, Value)> = Vec::new();
    let single = selections.len() == 1 && selections[0].names.len() == 1;
    for sel in selections {
        let with_type = |mut o: Value| {
            if let Some(m) = o.as_object_mut() {
                m.entry("apiVersion").or_insert_with(|| sel.resource.api_version().into());
                m.entry("kind").or_insert_with(|| sel.resource.kind.clone().into());
            }
            (sel.resource.kind_ref(), output::clean(o))
        };
        if sel.names.is_empty() {
            let list = plan.list(ctx, sel, &[], false).await?;
            found.extend(items(&list).into_iter().map(with_type));
        } else {
            for name in &sel.names {
                let ns = plan.namespace.as_deref().unwrap_or(ctx.ns());
                match ctx.conn.api.get(&sel.resource.item_path(ns, name)).await {
                    Ok(o) => found.push(with_type(o)),
                    Err(e) => ui.error(&e),
                }
            }
        }
    }
    if let Some(path) = &plan.sort {
        table::sort_by(&mut found, path, |(_, o)| Some(o))?;
    }
    if found.is_empty() && !single {
        if matches!(plan.output, Output::Json | Output::Yaml) {
            // kubectl prints an empty List for these.
            ui.out(&print_value(&plan.output, &output::list(Vec::new()))?);
        } else {
            ui.note(&plan.nothing_found(selections));
        }
        return Ok(());
    }
    match &plan.output {
        Output::Name => {
            for (kind, o) in &found {
                ui.line(&output::name_of(kind, o));
            }
        }
        Output::CustomColumns(cols) => {
            let objs: Vec<Value> = found.into_iter().map(|(_, o)| o).collect();
            ui.out(&output::custom_columns(cols, &objs, plan.args.no_headers)?);
        }
        other => {
            let value = if single && found.len() == 1 {
                found.remove(0).1
            } else if single {
                return Ok(());
            } else {
                output::list(found.into_iter().map(|(_, o)| o).collect())
            };
            ui.out(&print_value(other, &value)?);
        }
    }
    Ok(())
}

fn print_value(format: &Output, value: &Value) -> Result<String> {
    match format {
        Output::Json => Ok(output::json(value)),
        Output::Yaml => output::yaml(value),
        Output::JsonPath(t) => t.render(value),
        _ => Ok(String::new()),
    }
}

/// `get -w`: the current state (unless `--watch-only`), then one line (or object) per change until the server
/// ends the watch.
async fn watch(ctx: &Ctx, plan: &Plan<'_>, sel: Selection, ui: &mut Ui) -> Result<()> {
    let name_selector = sel.names.first().map(|n| format!("metadata.name={n}"));
    let field_selector = match (&name_selector, plan.args.field_selector.as_deref()) {
        (Some(n), Some(f)) if !f.is_empty() => format!("{n},{f}"),
        (Some(n), _) => n.clone(),
        (None, f) => f.unwrap_or("").to_string(),
    };
    let collection = |extra: &[(&str, &str)]| {
        let mut params: Vec<(&str, &str)> =
            vec![("labelSelector", plan.args.selector.as_deref().unwrap_or("")), ("fieldSelector", &field_selector)];
        params.extend_from_slice(extra);
        with_query(&sel.resource.collection_path(plan.namespace.as_deref()), &params)
    };
    let table_mode = plan.output.is_table();
    let opts = plan.table_options(&sel, false);
    let mut widths: Vec<usize> = Vec::new();
    let mut header_printed = false;
    // Watch events may carry a Table without its column definitions: the first ones seen hold.
    let mut columns: Option<Value> = None;
    let mut from = String::new();
    if !plan.args.watch_only {
        let listed = if table_mode {
            table::as_table(ctx.conn.api.get_table(&collection(&[])).await?, jiff::Timestamp::now())
        } else {
            ctx.conn.api.get(&collection(&[])).await?
        };
        from = super::resource_version(&listed).to_string();
        if table_mode {
            columns = listed.get("columnDefinitions").cloned();
            if table::rows(&listed).is_empty() {
                ui.note(&plan.nothing_found(std::slice::from_ref(&sel)));
            } else {
                ui.out(&tabwriter::align(&table::lines(&listed, &opts, true), TABLE, &mut widths));
                header_printed = true;
            }
        } else {
            for o in items(&listed) {
                ui.out(&watched_object(plan, &sel, o)?);
            }
        }
    }
    let accept = if table_mode { ACCEPT_TABLE } else { "application/json" };
    let mut events = ctx.conn.api.watch(&collection(&[("watch", "true"), ("resourceVersion", &from)]), accept).await?;
    while let Some(event) = events.next().await {
        let event = event?;
        let mut object = event.get("object").cloned().unwrap_or(Value::Null);
        match event.get("type").and_then(Value::as_str) {
            Some("ERROR") => {
                let message = object.get("message").and_then(Value::as_str).unwrap_or("watch error");
                return Err(CliError::other(message.to_string()));
            }
            Some("BOOKMARK") => continue,
            _ => {}
        }
        if table_mode {
            object = table::as_table(object, jiff::Timestamp::now());
            if table::rows(&object).is_empty() {
                continue;
            }
            match (object.get("columnDefinitions").and_then(Value::as_array).is_some_and(|c| !c.is_empty()), &columns) {
                (true, _) => columns = object.get("columnDefinitions").cloned(),
                (false, Some(known)) => {
                    if let Some(o) = object.as_object_mut() {
                        o.insert("columnDefinitions".into(), known.clone());
                    }
                }
                (false, None) => {}
            }
            let text = table::lines(&object, &opts, !header_printed);
            header_printed = true;
            ui.out(&tabwriter::align(&text, TABLE, &mut widths));
        } else {
            ui.out(&watched_object(plan, &sel, object)?);
        }
    }
    Ok(())
}

fn watched_object(plan: &Plan<'_>, sel: &Selection, object: Value) -> Result<String> {
    let object = output::clean(object);
    Ok(match &plan.output {
        Output::Name => format!("{}\n", output::name_of(&sel.resource.kind_ref(), &object)),
        Output::Yaml => format!("---\n{}", output::yaml(&object)?),
        Output::CustomColumns(cols) => output::custom_columns(cols, std::slice::from_ref(&object), true)?,
        other => print_value(other, &object)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_are_appended_in_order() {
        let cases = [
            (
                json!({"kind": "Table", "metadata": {"continue": "a"}, "columnDefinitions": [1], "rows": [{"n": 1}]}),
                json!({"kind": "Table", "metadata": {}, "columnDefinitions": [1], "rows": [{"n": 2}, {"n": 3}]}),
                "rows",
                json!([{"n": 1}, {"n": 2}, {"n": 3}]),
            ),
            (json!({"items": [1, 2]}), json!({"items": [3]}), "items", json!([1, 2, 3])),
            (json!({"items": [1]}), json!({"items": []}), "items", json!([1])),
            (json!({"items": [1]}), json!({"kind": "Status"}), "items", json!([1])),
        ];
        for (mut first, page, field, want) in cases {
            append_page(&mut first, page);
            assert_eq!(first[field], want);
        }
    }

    #[test]
    fn continue_tokens() {
        assert_eq!(continue_token(&json!({"metadata": {"continue": "x"}})), Some("x"));
        assert_eq!(continue_token(&json!({"metadata": {"continue": ""}})), None);
        assert_eq!(continue_token(&json!({"metadata": {}})), None);
    }
}
