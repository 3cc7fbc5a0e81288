//! Synthetic appeals for the load generator: titles and bodies filled in from
//! templates of common 12345 matters, with varied places, citizens, phones and
//! Suzhou street-level regions, so that the server's classifier, duplicate
//! index and statistics see realistic, non-repeating text.

use hotline_proto::v1;

/// A small, fast pseudo-random generator (SplitMix64): load generation needs
/// variety, not cryptographic quality, and each worker owns one.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Returns a generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Returns a number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        // The modulo bias is irrelevant for lists of a few dozen entries.
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Returns true with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// Returns one element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One kind of appeal: its taxonomy path, nature, and text with slots.
///
/// Slots: `{place}` a residential compound, `{road}` a road, `{shop}` a
/// business, `{n}` a small number, `{hour}` an hour of the night.
#[derive(Debug)]
pub struct Template {
    /// Taxonomy path the operator would choose.
    pub category: &'static str,
    /// Nature of the appeal.
    pub appeal_type: v1::AppealType,
    /// Deadline tier.
    pub priority: v1::Priority,
    /// Title pattern.
    pub title: &'static str,
    /// Body pattern.
    pub body: &'static str,
}

/// Shorthand for the template table.
const fn t(
    category: &'static str,
    appeal_type: v1::AppealType,
    priority: v1::Priority,
    title: &'static str,
    body: &'static str,
) -> Template {
    Template {
        category,
        appeal_type,
        priority,
        title,
        body,
    }
}

use v1::AppealType::{Complaint, Consultation, Report, Request, Suggestion};
use v1::Priority::{Normal, Urgent};

/// Common matters of a city hotline; every category is in the default taxonomy.
pub const TEMPLATES: &[Template] = &[
    t(
        "环境保护/噪声污染/施工噪声",
        Complaint,
        Normal,
        "{place}旁工地夜间施工噪声扰民",
        "{place}旁边的工地每天晚上{hour}点以后还在打桩浇筑，噪声很大，老人孩子都睡不好。已经跟工地说过{n}次，没有任何改变，请相关部门核实是否办理了夜间施工许可。",
    ),
    t(
        "环境保护/噪声污染/社会生活噪声",
        Complaint,
        Normal,
        "{place}广场舞音响声音过大",
        "{place}中心广场每天晚上有人跳广场舞，音响开得很响，一直持续到{hour}点左右，楼上住户无法休息，希望社区和相关部门协调控制音量和时间。",
    ),
    t(
        "环境保护/大气污染/餐饮油烟",
        Complaint,
        Normal,
        "{road}{shop}油烟直排",
        "{road}上的{shop}厨房没有安装油烟净化设施，油烟直接排到后面居民楼，窗户都不敢开，衣服也没法晾晒，请环保部门上门检查。",
    ),
    t(
        "环境保护/固体废物/垃圾清运",
        Request,
        Normal,
        "{place}垃圾{n}天没有清运",
        "{place}门口的垃圾桶已经{n}天没有人清运了，垃圾堆满溢出，天气热散发臭味，蚊蝇很多，请尽快安排清运。",
    ),
    t(
        "城乡建设/物业管理/物业服务",
        Complaint,
        Normal,
        "{place}物业不维修电梯",
        "{place}{n}号楼的电梯坏了一个多星期，物业一直说在等配件，楼里有行动不便的老人上下楼非常困难，物业费照收却不作为，请相关部门督促。",
    ),
    t(
        "城乡建设/市政设施/路灯照明",
        Request,
        Normal,
        "{road}路灯不亮",
        "{road}靠近{place}一段有{n}盏路灯晚上不亮，已经有一段时间了，晚上路过很黑，存在安全隐患，请安排维修。",
    ),
    t(
        "城乡建设/市政设施/道路维修",
        Request,
        Normal,
        "{road}路面塌陷坑洼",
        "{road}和{place}路口附近路面出现一个大坑，下雨后积水看不清，已经有电动车在这里摔倒，请尽快修补。",
    ),
    t(
        "城乡建设/市政设施/排水防汛",
        Request,
        Urgent,
        "{place}雨后严重积水",
        "这两天下大雨，{place}地下车库入口积水有半米深，雨水井堵塞排不出去，车辆无法进出，请尽快派人疏通。",
    ),
    t(
        "城乡建设/公用事业/供水",
        Request,
        Urgent,
        "{place}突然停水",
        "{place}从今天早上开始停水，没有收到任何停水通知，已经{n}个小时了，家里有老人和小孩，请问什么时候能恢复供水。",
    ),
    t(
        "城乡建设/城市管理/占道经营",
        Report,
        Normal,
        "{road}流动摊贩占道经营",
        "{road}人行道上每天傍晚都有{n}个左右的流动摊贩摆摊，占用人行道和盲道，行人只能走机动车道，很危险，请城管部门管理。",
    ),
    t(
        "城乡建设/城市管理/违章搭建",
        Report,
        Normal,
        "{place}顶楼违章搭建",
        "{place}{n}号楼顶楼住户在楼顶搭建彩钢棚，正在施工，担心影响房屋安全和消防通道，请相关部门核实处理。",
    ),
    t(
        "交通运输/道路交通/停车管理",
        Complaint,
        Normal,
        "{place}门口车辆乱停堵塞消防通道",
        "{place}南门外每天晚上都有车辆占用消防通道停车，救护车和消防车根本进不来，物业管不了，请交警和相关部门处理。",
    ),
    t(
        "交通运输/公共交通/公交线路",
        Suggestion,
        Normal,
        "建议在{road}增设公交站点",
        "{road}附近新建了好几个小区，最近的公交站要走二十分钟，建议在{place}附近增设站点或调整{n}路公交线路，方便居民出行。",
    ),
    t(
        "劳动和社会保障/劳动关系/拖欠工资",
        Complaint,
        Normal,
        "{shop}拖欠工资{n}个月",
        "本人在{road}的{shop}工作，公司已经拖欠{n}个月工资没有发放，老板一直推脱，我们有十几个人都是这样，请劳动监察部门帮忙维权。",
    ),
    t(
        "商贸旅游/市场监管/消费维权",
        Complaint,
        Normal,
        "{shop}预付卡退费难",
        "在{road}的{shop}办了预付卡充值两千多元，现在门店突然关门，电话也打不通，还剩{n}次没有使用，请相关部门帮助退费。",
    ),
    t(
        "商贸旅游/市场监管/食品安全",
        Report,
        Normal,
        "{shop}销售过期食品",
        "今天在{road}的{shop}买的牛奶已经过期{n}天了，店员态度很差不给退换，怀疑还有其他过期商品在售，请市场监管部门检查。",
    ),
    t(
        "教育文体/义务教育/入学政策",
        Consultation,
        Normal,
        "咨询{place}对口小学入学条件",
        "孩子今年九月上一年级，我们住在{place}，房子是租的，想咨询积分入学需要准备哪些材料，什么时候开始报名。",
    ),
    t(
        "劳动和社会保障/社会保险/医疗保险",
        Consultation,
        Normal,
        "咨询异地就医备案办理",
        "我在{place}居住，医保在外地，最近要在本地医院做手术，想咨询异地就医备案怎么办理，报销比例是多少，需要{n}个工作日吗。",
    ),
];

/// A street-level region: code and name.
pub type Region = (&'static str, &'static str);

/// Street-level regions of Suzhou the appeals are spread over.
pub const REGIONS: &[Region] = &[
    ("320508001", "姑苏区平江街道"),
    ("320508002", "姑苏区沧浪街道"),
    ("320508003", "姑苏区双塔街道"),
    ("320508004", "姑苏区金阊街道"),
    ("320506001", "吴中区长桥街道"),
    ("320506002", "吴中区郭巷街道"),
    ("320507001", "相城区元和街道"),
    ("320505001", "虎丘区狮山街道"),
    ("320509001", "吴江区松陵街道"),
    ("320571001", "工业园区娄葑街道"),
    ("320571002", "工业园区斜塘街道"),
    ("320583001", "昆山市玉山镇"),
];

/// Residential compounds.
const PLACES: &[&str] = &[
    "金色家园",
    "阳光花园",
    "平江新城",
    "东港新村",
    "翰林苑",
    "星湖花园",
    "清水湾",
    "桐泾新村",
    "湖畔天城",
    "锦绣江南",
    "新康花园",
    "玲珑湾",
];

/// Roads.
const ROADS: &[&str] = &[
    "干将路",
    "人民路",
    "平江路",
    "金鸡湖大道",
    "星湖街",
    "东环路",
    "南环路",
    "石路",
    "长江路",
    "现代大道",
];

/// Businesses.
const SHOPS: &[&str] = &[
    "美味餐馆",
    "好又多超市",
    "悦动健身房",
    "金诚装饰公司",
    "小天鹅洗衣店",
    "鑫源物流公司",
    "快乐童年培训班",
    "老街烧烤店",
];

/// Surnames for citizens' names.
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "朱", "沈", "顾",
];

/// Sentences a caller may add at the end.
const CODAS: &[&str] = &[
    "",
    "",
    "希望尽快处理，谢谢。",
    "之前反映过一次，没有下文，请给个答复。",
    "联系电话同来电号码，可以随时联系我。",
    "如需现场查看可以提前电话联系。",
];

/// A generated appeal, ready for CreateTicket.
#[derive(Debug, Clone)]
pub struct Appeal {
    /// Taxonomy path (sent as the category hint).
    pub category: &'static str,
    /// Nature of the appeal.
    pub appeal_type: v1::AppealType,
    /// Deadline tier.
    pub priority: v1::Priority,
    /// Filled-in title.
    pub title: String,
    /// Filled-in body.
    pub body: String,
    /// Street-level region code.
    pub region_code: &'static str,
    /// Address within the region.
    pub address: String,
    /// Citizen's name, e.g. 王先生.
    pub name: String,
    /// Citizen's mobile number.
    pub phone: String,
}

impl Appeal {
    /// Generates an appeal from `template` in `region`.
    pub fn generate(rng: &mut Rng, template: &Template, region: Region) -> Self {
        let place = *rng.pick(PLACES);
        let road = *rng.pick(ROADS);
        let shop = *rng.pick(SHOPS);
        let n = (2 + rng.below(8)).to_string();
        let hour = (22 + rng.below(3)).to_string();
        let fill = |text: &str| {
            text.replace("{place}", place)
                .replace("{road}", road)
                .replace("{shop}", shop)
                .replace("{n}", &n)
                .replace("{hour}", &hour)
        };
        let mut body = fill(template.body);
        let coda = *rng.pick(CODAS);
        body.push_str(coda);
        let title = fill(template.title);
        let phone = format!(
            "1{}{:09}",
            rng.pick(&["3", "5", "7", "8", "9"]),
            rng.next_u64() % 1_000_000_000
        );
        let name = format!(
            "{}{}",
            rng.pick(SURNAMES),
            if rng.chance(0.5) { "先生" } else { "女士" }
        );
        let address = format!("{}{}{}{}号", region.1, road, place, 1 + rng.below(120));
        Self {
            category: template.category,
            appeal_type: template.appeal_type,
            priority: template.priority,
            title,
            body,
            region_code: region.0,
            address,
            name,
            phone,
        }
    }

    /// Returns the CreateTicket request for this appeal.
    ///
    /// `category_hint` false leaves the category to the server's classifier,
    /// as when an operator does not pick one.
    pub fn create_request(
        &self,
        request_id: String,
        channel: v1::Channel,
        category_hint: bool,
        wants_callback: bool,
    ) -> v1::CreateTicketRequest {
        v1::CreateTicketRequest {
            request_id,
            channel: channel.into(),
            appeal_type: self.appeal_type.into(),
            priority: self.priority.into(),
            citizen: Some(v1::Citizen {
                name: self.name.clone(),
                phone: self.phone.clone(),
                anonymous: false,
                confidential: false,
                wants_callback,
            }),
            title: self.title.clone(),
            body: self.body.clone(),
            address: self.address.clone(),
            region_code: self.region_code.to_owned(),
            category_hint: if category_hint {
                self.category.to_owned()
            } else {
                String::new()
            },
            latitude: None,
            longitude: None,
        }
    }
}

/// How appeals arrive, weighted roughly as at a city center (mostly calls).
pub fn channel(rng: &mut Rng) -> v1::Channel {
    match rng.below(20) {
        0..=11 => v1::Channel::Phone,
        12..=14 => v1::Channel::Wechat,
        15..=17 => v1::Channel::Web,
        _ => v1::Channel::App,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_is_filled_and_texts_vary() {
        let mut rng = Rng::new(7);
        let mut titles = std::collections::HashSet::new();
        for i in 0..200 {
            let template = &TEMPLATES[i % TEMPLATES.len()];
            let region = *rng.pick(REGIONS);
            let appeal = Appeal::generate(&mut rng, template, region);
            for text in [&appeal.title, &appeal.body, &appeal.address] {
                assert!(!text.contains('{') && !text.contains('}'), "{text}");
            }
            assert_eq!(appeal.phone.len(), 11, "{}", appeal.phone);
            assert!(appeal.phone.bytes().all(|b| b.is_ascii_digit()));
            assert!(appeal.title.chars().count() <= 200);
            titles.insert(appeal.title);
        }
        assert!(titles.len() > 100, "only {} distinct titles", titles.len());
    }

    #[test]
    fn every_category_is_in_the_default_taxonomy() {
        let taxonomy = include_str!("../../../../hotline-core/data/taxonomy.txt");
        let paths: Vec<&str> = taxonomy
            .lines()
            .filter_map(|line| line.split('\t').nth(1))
            .collect();
        for template in TEMPLATES {
            assert!(paths.contains(&template.category), "{}", template.category);
        }
    }

    #[test]
    fn regions_are_nine_digit_street_codes() {
        for (code, name) in REGIONS {
            assert_eq!(code.len(), 9, "{name}");
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{name}");
        }
    }

    #[test]
    fn the_generator_spreads_over_its_range() {
        let mut rng = Rng::new(1);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[rng.below(10)] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
    }
}
