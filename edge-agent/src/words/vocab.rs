//! The lane's vocabulary in English and Simplified Chinese, keyed by the word a file or
//! a message on the wire uses (`area_camera`, `degraded`, `low_confidence`).
//!
//! The command line prints the English column; the technician page gets both tables
//! (`/api/words`) and shows the column of its language, so a technician who reads `diag`
//! in a terminal and the page on the lane PC meets the same terms. A key not in a table is
//! shown as it is: a new reason word still reads, only untranslated.

use serde::Serialize;

/// A language the page and the command line can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// `en`, `zh`, `zh-CN`, `zh_CN.UTF-8`, `en-GB`…; anything else is not a language we speak.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_', '.']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The first language of an HTTP `Accept-Language` header we speak, by its q-values.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut tags: Vec<(f32, &str)> = header
            .split(',')
            .filter_map(|part| {
                let mut it = part.split(';');
                let tag = it.next()?.trim();
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(1.0, |q| q.trim().parse().unwrap_or(0.0));
                Some((q, tag))
            })
            .collect();
        tags.sort_by(|a, b| b.0.total_cmp(&a.0));
        tags.into_iter().filter(|(q, _)| *q > 0.0).find_map(|(_, t)| Lang::parse(t))
    }
}

/// One term in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Term {
    pub key: &'static str,
    pub en: &'static str,
    pub zh: &'static str,
}

impl Term {
    pub fn get(self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.en,
            Lang::Zh => self.zh,
        }
    }
}

const fn t(key: &'static str, en: &'static str, zh: &'static str) -> Term {
    Term { key, en, zh }
}

pub const KINDS: &[Term] = &[
    t("barrier", "barrier", "道闸"),
    t("presence", "presence sensor", "车辆检测器"),
    t("area_camera", "area camera", "抓拍相机"),
    t("under_vehicle_camera", "under-vehicle camera", "车底扫描仪"),
    t("seal_reader", "seal reader", "电子关锁读写器"),
    t("empty_box_detector", "empty-box detector", "空箱检测仪"),
];

pub const HEALTH: &[Term] =
    &[t("ok", "ok", "正常"), t("degraded", "degraded", "不稳定"), t("down", "down", "故障")];

pub const OUTCOMES: &[Term] = &[
    t("release", "release", "放行"),
    t("hold", "hold", "待审"),
    t("inspection", "inspection", "查验"),
    t("none", "no decision", "未判定"),
];

pub const STAGES: &[Term] = &[
    t("capture", "capture", "抓拍"),
    t("recognition", "recognition", "识别"),
    t("empty_check", "empty check", "空箱检查"),
    t("decision", "decision", "判定"),
    t("review", "review", "人工审核"),
    t("opening", "opening", "抬杆"),
    t("exit", "exit", "驶离"),
    t("closing", "closing", "落杆"),
];

pub const EXITS: &[Term] = &[
    t("drove_through", "drove through", "已驶离"),
    t("left_unreleased", "left unreleased", "未放行离开"),
    t("tailgated", "tailgated", "跟车通过"),
    t("interrupted", "interrupted (agent stopped)", "中断（程序停止）"),
];

/// An electronic seal's state (ISO 18185), as the reader reports it.
pub const SEALS: &[Term] =
    &[t("sealed", "sealed", "已施封"), t("opened", "opened", "已开启"), t("tampered", "tampered", "被破坏")];

/// The barrier arm as the lane knows it.
pub const BARRIER: &[Term] = &[
    t("closed", "closed", "已落杆"),
    t("opened", "open", "已抬杆"),
    t("opening", "opening", "正在抬杆"),
    t("closing", "closing", "正在落杆"),
    t("unknown", "position unknown", "位置未知"),
];

pub const LANE_STATES: &[Term] = &[t("online", "online", "在线"), t("offline", "offline", "离线")];

pub const FLAGS: &[Term] = &[
    t("tailgate", "tailgate", "跟车"),
    t("barrier_fault", "barrier fault", "道闸故障"),
    t("review_overdue", "review overdue", "审核超时"),
    t("exit_overdue", "exit overdue", "驶离超时"),
    t("device_down", "device down", "设备故障"),
    t("uplink_backlog", "uplink backlog", "上传积压"),
    t("audit_failing", "audit trail failing", "审计记录写入失败"),
];

/// Why a vehicle was held or sent to inspection (the policy's reason words; a reason with
/// a detail, `device_down:uvss`, is looked up by the part before the colon).
pub const REASONS: &[Term] = &[
    t("low_confidence", "low confidence", "识别置信度低"),
    t("plate_unread", "plate not read", "车牌未识别"),
    t("check_digit_invalid", "container check digit wrong", "箱号校验位错误"),
    t("recognition_failed", "recognition failed", "识别失败"),
    t("not_declared", "not declared", "无申报"),
    t("declaration_expired", "declaration expired", "申报已过期"),
    t("targeted", "targeted for inspection", "布控"),
    t("plate_mismatch", "plate differs from the declaration", "车牌与申报不符"),
    t("container_mismatch", "containers differ from the declaration", "箱号与申报不符"),
    t("seal_mismatch", "seals differ from the declaration", "关锁与申报不符"),
    t("seal_opened", "seal opened", "关锁已开启"),
    t("seal_tampered", "seal tampered", "关锁被破坏"),
    t("empty_mismatch", "empty-box detector disagrees with the declaration", "空箱检测与申报不符"),
    t("empty_inconclusive", "empty-box detector inconclusive", "空箱检测无结论"),
    t("empty_check_disagrees", "interior image disagrees with the declaration", "空箱图像与申报不符"),
    t("empty_image_inconclusive", "interior image inconclusive", "空箱图像无结论"),
    t("empty_image_unavailable", "no interior image", "无空箱图像"),
    t("uvss_anomaly", "under-vehicle anomaly", "车底异常"),
    t("uvss_inconclusive", "under-vehicle comparison inconclusive", "车底比对无结论"),
    t("uvss_no_reference", "no under-vehicle reference yet", "无车底基准图像"),
    t("uvss_unavailable", "under-vehicle scan unavailable", "车底扫描不可用"),
    t("device_down", "device down", "设备故障"),
    t("auto_release_off", "automatic release is off", "自动放行已关闭"),
    t("decision_timeout", "decision timed out", "判定超时"),
    t("vehicle_left", "vehicle left before a decision", "车辆未判定即离开"),
];

/// Every table by name, for the page.
pub const TABLES: &[(&str, &[Term])] = &[
    ("kind", KINDS),
    ("health", HEALTH),
    ("outcome", OUTCOMES),
    ("stage", STAGES),
    ("exit", EXITS),
    ("lane_state", LANE_STATES),
    ("barrier", BARRIER),
    ("seal", SEALS),
    ("flag", FLAGS),
    ("reason", REASONS),
];

/// The English words for `key` in `table` (the key itself when unknown).
pub fn en<'a>(table: &[Term], key: &'a str) -> &'a str {
    lookup(table, key).map_or(key, |t| t.en)
}

/// The term for `key`; reasons with a detail (`device_down:uvss`) by their word.
pub fn lookup(table: &[Term], key: &str) -> Option<Term> {
    let word = key.split(':').next().unwrap_or(key);
    table.iter().find(|t| t.key == word).copied()
}

/// A reason in words, with its detail: `device down (uvss)`.
pub fn reason_en(reason: &str) -> String {
    match reason.split_once(':') {
        Some((word, detail)) => format!("{} ({detail})", en(REASONS, word)),
        None => en(REASONS, reason).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_from_tags_and_headers() {
        assert_eq!(Lang::parse("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::parse("zh_CN.UTF-8"), Some(Lang::Zh));
        assert_eq!(Lang::parse("en-GB"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Some(Lang::Zh));
        assert_eq!(Lang::from_accept_language("fr-FR,en;q=0.5,zh;q=0.7"), Some(Lang::Zh));
        assert_eq!(Lang::from_accept_language("de, fr;q=0.5"), None);
    }

    #[test]
    fn every_term_has_both_languages_and_unique_keys() {
        for (name, table) in TABLES {
            let mut keys: Vec<&str> = table.iter().map(|t| t.key).collect();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), table.len(), "{name}: duplicate key");
            for term in *table {
                assert!(!term.en.is_empty() && !term.zh.is_empty(), "{name}.{}", term.key);
                assert!(term.zh.chars().any(|c| c as u32 > 0x2e80), "{name}.{}: not Chinese", term.key);
            }
        }
    }

    #[test]
    fn reasons_read_with_their_detail() {
        assert_eq!(reason_en("device_down:uvss"), "device down (uvss)");
        assert_eq!(reason_en("low_confidence"), "low confidence");
        assert_eq!(reason_en("something_new"), "something_new");
    }
}
