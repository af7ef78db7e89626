//! Notices: the report (报告) a hold sends to the authority that must decide, with
//! every element of DESIGN §8, rendered as Markdown, JSON, or HTML in the GB/T 9704
//! layout. A notice names the data by id, content hash and row count and states the
//! metrics that met the criterion; it never carries a data value.

use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::Org;
use crate::decide::PROVISIONAL_MARK;
use crate::ledger::holds::HoldDetail;

/// One dataset as a notice names it.
#[derive(Clone, Debug, Serialize)]
pub struct DataRef {
    pub id: String,
    pub sha256: String,
    pub rows: u64,
}

/// Every element of a notice (DESIGN §8).
#[derive(Clone, Debug, Serialize)]
pub struct Notice {
    /// 发文字号.
    pub number: String,
    /// Mark line: `待定密（先行保密）` for Case 2, the item's 密级★期限 for Case 1, none for important data.
    pub mark: Option<String>,
    /// 紧急程度 for suspected disclosure.
    pub urgency: Option<String>,
    pub title: String,
    /// 主送机关.
    pub addressee: String,
    /// 报告单位.
    pub reporting_unit: String,
    pub data: Vec<DataRef>,
    pub combination: String,
    pub criterion: Criterion,
    pub measures: Vec<String>,
    pub requested: String,
    pub deadline: Option<String>,
    pub contact: String,
    /// 签发人.
    pub signer: String,
    /// 成文日期.
    pub date: String,
    pub attachments: Vec<String>,
    pub hold: i64,
    pub finding: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Criterion {
    pub item: String,
    pub name: String,
    pub pack: String,
    pub outcome: String,
    pub evidence: Vec<(String, Option<f64>, bool)>,
    pub remediation: String,
}

fn unset(v: &Option<String>, what: &str) -> String {
    v.clone().unwrap_or_else(|| format!("（未配置 mosaic.toml [org] {what}）"))
}

fn chinese_date(d: NaiveDate) -> String {
    d.format("%Y年%-m月%-d日").to_string()
}

/// Build the notice of a hold.
pub fn build(detail: &HoldDetail, org: &Org, number: &str, today: NaiveDate) -> Notice {
    let f = &detail.finding;
    let data: Vec<DataRef> = detail
        .inputs
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| DataRef {
                    id: i["id"].as_str().unwrap_or_default().to_string(),
                    sha256: i["sha256"].as_str().unwrap_or_default().to_string(),
                    rows: i["rows"].as_u64().unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let names = f.datasets.join("、");
    let (title, mark, urgency, measures, requested) = match f.outcome.as_str() {
        "important_data" => (
            format!("关于{names}可能属于重要数据的报告"),
            None,
            None,
            vec!["暂停对外提供和发布，限制访问范围".to_string()],
            "请依照数据安全有关规定确认是否属于重要数据，并明确处理要求。".to_string(),
        ),
        "exposure" => (
            format!("关于{names}汇聚关联后疑似泄露国家秘密的紧急报告"),
            Some(PROVISIONAL_MARK.to_string()),
            Some("特急".to_string()),
            vec!["立即停止传播，撤回可控范围内的副本，限制访问".to_string(), "保存相关记录备查".to_string()],
            "请依照保守国家秘密法实施条例第六十一条的规定核查处理。".to_string(),
        ),
        "catalog_match" => (
            format!("关于{names}汇聚关联后符合保密事项范围的报告"),
            f.mark.clone(),
            None,
            vec!["暂停发布，限制知悉范围，按所列密级采取保密措施".to_string()],
            format!(
                "该数据符合保密事项范围有关规定（{}），拟定密级{}、保密期限{}。本单位定密权限不足或需确认时，请予确定。",
                f.item,
                f.level.clone().unwrap_or_default(),
                f.period.clone().unwrap_or_default()
            ),
        ),
        _ => (
            format!("关于{names}汇聚关联后可能涉及国家秘密的报告"),
            Some(PROVISIONAL_MARK.to_string()),
            None,
            vec!["暂停发布，先行采取保密措施（国家秘密定密管理规定第三十五条）".to_string(), "限制知悉范围，专人保管".to_string()],
            format!(
                "保密事项范围未作规定。请确定是否属于国家秘密；如属于，请确定密级、保密期限和知悉范围（本单位建议：{}，{}，{}）。",
                detail.hold.level.clone().or(f.level.clone()).unwrap_or_else(|| "—".into()),
                f.period.clone().unwrap_or_else(|| "—".into()),
                "见所依据条目"
            ),
        ),
    };
    let finding_json = serde_json::to_string(f).unwrap_or_default();
    Notice {
        number: number.to_string(),
        mark,
        urgency,
        title,
        addressee: detail.hold.addressee.clone(),
        reporting_unit: unset(&org.name, "name"),
        data,
        combination: match (&f.zh, f.combination.kind.as_str()) {
            (Some(z), _) => z.combination.clone(),
            (None, _) => crate::decide::Combination {
                kind: f.combination.kind.clone(),
                keys: f.combination.keys.clone(),
                via: f.combination.via.clone(),
                within_m: f.combination.within_m,
            }
            .zh(str::to_string),
        },
        // In Chinese words: findings recorded before they carried them show the item as written.
        criterion: Criterion {
            item: f.item.clone(),
            name: f.zh.as_ref().map_or_else(|| f.item_name.clone(), |z| z.item_name.clone()),
            pack: f.pack.clone(),
            outcome: crate::rules::words::outcome(&f.outcome).to_string(),
            evidence: f
                .evidence
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let words = f.zh.as_ref().and_then(|z| z.criteria.get(i)).cloned();
                    (words.unwrap_or_else(|| e.condition.clone()), e.value, e.holds)
                })
                .collect(),
            remediation: f.zh.as_ref().map_or_else(|| f.remediation.clone(), |z| z.remediation.clone()),
        },
        measures,
        requested,
        deadline: detail.hold.deadline.clone(),
        contact: unset(&org.contact, "contact"),
        signer: unset(&org.signer, "signer"),
        date: chinese_date(today),
        attachments: vec![
            format!("发现记录 {}（sha256 {}）", f.id, hex::encode(Sha256::digest(finding_json.as_bytes()))),
            format!("暂控记录第 {} 号（数据审查台账）", detail.hold.id),
        ],
        hold: detail.hold.id,
        finding: f.id.clone(),
    }
}

/// A reminder (催办) of a notice not answered by its deadline: the same report,
/// citing the first notice's number and date and asking again for a decision.
pub fn reminder(detail: &HoldDetail, org: &Org, first: &(String, String), today: NaiveDate) -> Notice {
    let (number, created) = first;
    let mut n = build(detail, org, number, today);
    let sent = chrono::DateTime::parse_from_rfc3339(created)
        .map(|d| chinese_date(d.date_naive()))
        .unwrap_or_else(|_| created.clone());
    n.number = format!("{number}（催办）");
    n.title = format!("催办：{}", n.title);
    n.urgency = Some("催办".to_string());
    n.requested = format!(
        "本单位已于{sent}以{number}报送上述事项{}，至今未收到确定意见。请尽快确定是否属于国家秘密；确定前，本单位继续采取先行保密措施。",
        detail.hold.deadline.as_ref().map(|d| format!("，答复期限{d}已过")).unwrap_or_default()
    );
    n.attachments.insert(0, format!("原报告 {number}（{sent}）"));
    n
}

fn value(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{v}"))
}

/// Markdown.
pub fn markdown(n: &Notice) -> String {
    let mut s = String::new();
    if let Some(m) = &n.mark {
        s += &format!("**{}**\n\n", md(m));
    }
    if let Some(u) = &n.urgency {
        s += &format!("**{}**\n\n", md(u));
    }
    s += &format!("{}\n\n# {}\n\n{}：\n\n", md(&n.number), md(&n.title), md(&n.addressee));
    s += &format!(
        "{}在数据发布前审查中发现下列数据汇聚、关联后达到一定精度或者规模（{}）：\n\n",
        md(&n.reporting_unit),
        md(&n.combination)
    );
    s += "| 数据 | 内容哈希 (sha256) | 行数 |\n|---|---|---|\n";
    for d in &n.data {
        s += &format!("| {} | {} | {} |\n", md(&d.id), md(&d.sha256), d.rows);
    }
    let c = &n.criterion;
    s += &format!("\n**所依据条目**：{} {}（{}，{}）\n\n", md(&c.item), md(&c.name), md(&c.pack), md(&c.outcome));
    s += "| 条件 | 度量值 | 是否满足 |\n|---|---|---|\n";
    for (c, v, h) in &c.evidence {
        s += &format!("| {} | {} | {} |\n", md(c), value(*v), if *h { "是" } else { "否" });
    }
    s += "\n**已采取的先行措施**：\n\n";
    for m in &n.measures {
        s += &format!("- {}\n", md(m));
    }
    s += &format!("\n**请求事项**：{}\n\n", md(&n.requested));
    if let Some(d) = &n.deadline {
        s += &format!("**请于 {} 前答复**（工作日计算，含法定节假日调整）。\n\n", md(d));
    }
    s += &format!("**可行的处理方式**：{}\n\n", md(&c.remediation));
    s += &format!(
        "联系人：{}\n\n签发人：{}\n\n{}　{}\n\n附件：\n\n",
        md(&n.contact),
        md(&n.signer),
        md(&n.reporting_unit),
        md(&n.date)
    );
    for (i, a) in n.attachments.iter().enumerate() {
        s += &format!("{}. {}\n", i + 1, md(a));
    }
    s
}

/// Escape Markdown-significant characters in data-derived text.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' | '`' | '*' | '_' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// HTML after the GB/T 9704 layout: A4, margins 37/26/35/28 mm, red 发文机关标志 and
/// red separator line, 黑体 mark line, 小标宋 title, 仿宋 body. Every data-derived
/// string is escaped.
pub fn html(n: &Notice) -> String {
    let e = crate::report::html_escape;
    let mut body = String::new();
    body += "<div class=\"head\">";
    body += &format!("<div class=\"mark\">{}</div>", n.mark.as_deref().map(e).unwrap_or_default());
    body += &format!("<div class=\"urgency\">{}</div>", n.urgency.as_deref().map(e).unwrap_or_default());
    body += &format!("<div class=\"issuer\">{}文件</div>", e(&n.reporting_unit));
    body += &format!("<div class=\"number\">{}</div><hr class=\"red\"></div>", e(&n.number));
    body += &format!("<h1>{}</h1><p class=\"to\">{}：</p>", e(&n.title), e(&n.addressee));
    body += &format!(
        "<p>{}在数据发布前审查中发现下列数据汇聚、关联后达到一定精度或者规模（{}）：</p>",
        e(&n.reporting_unit),
        e(&n.combination)
    );
    body += "<table><tr><th>数据</th><th>内容哈希（sha256）</th><th>行数</th></tr>";
    for d in &n.data {
        body += &format!("<tr><td>{}</td><td class=\"hash\">{}</td><td>{}</td></tr>", e(&d.id), e(&d.sha256), d.rows);
    }
    body += "</table>";
    body += &format!(
        "<p>所依据条目：{} {}（{}，{}）</p>",
        e(&n.criterion.item),
        e(&n.criterion.name),
        e(&n.criterion.pack),
        e(&n.criterion.outcome)
    );
    body += "<table><tr><th>条件</th><th>度量值</th><th>是否满足</th></tr>";
    for (c, v, h) in &n.criterion.evidence {
        body += &format!("<tr><td>{}</td><td>{}</td><td>{}</td></tr>", e(c), value(*v), if *h { "是" } else { "否" });
    }
    body += "</table><p>已采取的先行措施：</p><ul>";
    for m in &n.measures {
        body += &format!("<li>{}</li>", e(m));
    }
    body += &format!("</ul><p>请求事项：{}</p>", e(&n.requested));
    if let Some(d) = &n.deadline {
        body += &format!("<p>请于 {} 前答复。</p>", e(d));
    }
    body += &format!("<p>可行的处理方式：{}</p>", e(&n.criterion.remediation));
    body += &format!("<p>联系人：{}</p><p>签发人：{}</p>", e(&n.contact), e(&n.signer));
    body += &format!("<p class=\"sign\">{}<br>{}</p><p>附件：</p><ol>", e(&n.reporting_unit), e(&n.date));
    for a in &n.attachments {
        body += &format!("<li>{}</li>", e(a));
    }
    body += "</ol>";
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{}</title><style>{}</style></head><body>{}</body></html>\n",
        e(&n.title),
        CSS,
        body
    )
}

const CSS: &str = "@page{size:A4;margin:37mm 26mm 35mm 28mm}\
body{font-family:'FangSong','STFangsong','Noto Serif CJK SC','Noto Serif SC',serif;font-size:16pt;line-height:28pt;color:#000;max-width:156mm;margin:0 auto}\
.mark,.urgency{font-family:'SimHei','Noto Sans CJK SC','Noto Sans SC',sans-serif;font-size:16pt}\
.issuer{color:#c00;font-family:'FZXiaoBiaoSong-B05','Noto Serif CJK SC',serif;font-size:40pt;line-height:60pt;text-align:center;font-weight:bold;margin-top:20pt}\
.number{text-align:center;margin:10pt 0}\
hr.red{border:0;border-top:2px solid #c00;margin:4mm 0 10mm}\
h1{font-family:'FZXiaoBiaoSong-B05','Noto Serif CJK SC',serif;font-size:22pt;line-height:32pt;text-align:center;font-weight:bold}\
p{text-indent:2em;margin:0}p.to{text-indent:0}p.sign{text-align:right;margin-top:20pt}\
table{border-collapse:collapse;font-size:12pt;line-height:18pt;margin:6pt 0}td,th{border:1px solid #000;padding:2pt 6pt}\
.hash{font-family:monospace;font-size:9pt;word-break:break-all}";
