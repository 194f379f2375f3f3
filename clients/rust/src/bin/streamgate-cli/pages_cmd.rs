//! `streamgate-cli pages URL`: a paginated JSON API read lazily through the server.

use std::time::Duration;

use clap::{Args, ValueEnum};
use futures::StreamExt;
use serde_json::json;
use streamgate_client::{PagesOptions, PaginationStyle};

use crate::exit;
use crate::output::Output;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Style {
    /// `?page=N&size=M` (the seed's).
    PageNumber,
    /// `?offset=K&limit=M`.
    OffsetLimit,
    /// `?cursor=C&limit=M`, the next cursor read from the body.
    Cursor,
    /// RFC 8288 `Link: <..>; rel="next"`.
    LinkHeader,
}

impl From<Style> for PaginationStyle {
    fn from(s: Style) -> Self {
        match s {
            Style::PageNumber => PaginationStyle::PageNumber,
            Style::OffsetLimit => PaginationStyle::OffsetLimit,
            Style::Cursor => PaginationStyle::Cursor,
            Style::LinkHeader => PaginationStyle::LinkHeader,
        }
    }
}

#[derive(Debug, Args)]
pub struct PagesArgs {
    /// The collection's URL.
    url: String,
    /// Items per page asked of the API.
    #[arg(long, default_value_t = 20)]
    page_size: u32,
    /// First page number (page-number style).
    #[arg(long, default_value_t = 1)]
    start_page: u32,
    /// Stop after this many pages (0 = until the API's end).
    #[arg(long, default_value_t = 0)]
    max_pages: u32,
    /// RFC 6901 pointer to the items array in each body; "" = the body is the array.
    #[arg(long, default_value = "")]
    items_pointer: String,
    /// Pagination style.
    #[arg(long, value_enum, default_value_t = Style::PageNumber)]
    style: Style,
    /// Pages the server may fetch ahead (0 = the server's default, 1).
    #[arg(long, default_value_t = 0)]
    prefetch: u32,
    /// Resume after the page that returned this token.
    #[arg(long)]
    page_token: Option<String>,
    /// Pointer to the next cursor in each body (cursor style).
    #[arg(long)]
    cursor_pointer: Option<String>,
    /// Query parameter of the page number (default `page`).
    #[arg(long)]
    page_param: Option<String>,
    /// Query parameter of the page size (default `size`).
    #[arg(long)]
    size_param: Option<String>,
    /// Query parameter of the offset (default `offset`).
    #[arg(long)]
    offset_param: Option<String>,
    /// Query parameter of the limit (default `limit`).
    #[arg(long)]
    limit_param: Option<String>,
    /// Query parameter of the cursor (default `cursor`).
    #[arg(long)]
    cursor_param: Option<String>,
    /// Timeout of each page request, retries included.
    #[arg(long, value_parser = humantime::parse_duration)]
    page_timeout: Option<Duration>,
    /// Header `Name: value` sent with every page request; repeatable.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
}

pub async fn run(server: &crate::Server, args: PagesArgs, out: &Output) -> anyhow::Result<u8> {
    let mut options = PagesOptions::new()
        .page_size(args.page_size)
        .start_page(args.start_page)
        .max_pages(args.max_pages)
        .items_pointer(args.items_pointer.clone())
        .style(args.style.into())
        .prefetch(args.prefetch)
        .param_names(
            args.page_param.as_deref(),
            args.size_param.as_deref(),
            args.offset_param.as_deref(),
            args.limit_param.as_deref(),
            args.cursor_param.as_deref(),
        );
    if let Some(token) = &args.page_token {
        options = options.page_token(token.clone());
    }
    if let Some(pointer) = &args.cursor_pointer {
        options = options.cursor_pointer(pointer.clone());
    }
    if let Some(t) = args.page_timeout {
        options = options.page_timeout(t);
    }
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("header {header:?} is not `Name: value`"))?;
        options = options.header(name.trim(), value.trim());
    }

    let client = server.connect().await?;
    let mut pages = std::pin::pin!(client.list_pages(&args.url, options));
    let (mut page_count, mut item_count) = (0u64, 0u64);
    while let Some(page) = pages.next().await {
        let page = page?;
        page_count += 1;
        item_count += page.items.len() as u64;
        if out.json {
            out.json_line(&json!({
                "number": page.number,
                "url": page.url,
                "items": page.items,
                "next_page_token": page.next_page_token,
            }))?;
        } else {
            eprintln!(
                "streamgate-cli: page {} ({} items) from {}",
                page.number,
                page.items.len(),
                page.url
            );
            for item in &page.items {
                out.line(&item.to_string())?;
            }
        }
    }
    out.note(
        &format!("{page_count} pages, {item_count} items"),
        json!({"event": "done", "pages": page_count, "items": item_count}),
    );
    Ok(exit::OK)
}
