//! Dispute categories (类型): the 17 listed by the Annex 2 form; a unit may add its own
//! (可自行添加) in its [`crate::model::UnitProfile`].

/// The categories the form lists, in its order.
pub const FORM_CATEGORIES: [&str; 17] = [
    "退役军人",
    "涉众型经济案件",
    "企业改制",
    "环境保护",
    "征地拆迁",
    "房地产领域",
    "劳动就业",
    "医疗卫生",
    "自然资源",
    "交通运输",
    "民族宗教",
    "移民问题",
    "民生保障",
    "重大案(事)",
    "民工权益",
    "涉灾领域",
    "涉法涉诉",
];

/// Whether `name` is one of the form's categories.
pub fn is_form_category(name: &str) -> bool {
    FORM_CATEGORIES.contains(&name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn seventeen_distinct_categories() {
        let set: std::collections::BTreeSet<_> = super::FORM_CATEGORIES.iter().collect();
        assert_eq!(set.len(), 17);
        assert!(super::is_form_category("医疗卫生"));
        assert!(!super::is_form_category("其他"));
    }
}
