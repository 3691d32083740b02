"""The market simulator's own world: categories, brands and price levels, platforms and phrase lists.

These lists are deliberately the simulator's own. They overlap with, but are not, any product lexicon:
several claims and counterfeit cues below appear in no fixed word list the product ships, so a model
can only learn them from text. Price levels are typical retail prices in CNY (2024-25) for one unit as
the spec describes it; they only need to be plausible relative to each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Brand:
    """A brand sold in one category, with its typical genuine price and whether fakes of it sell."""

    name: str
    price: float
    famous: bool = True
    products: tuple[str, ...] = ()  # what the brand sells, when narrower than the category


@dataclass(frozen=True)
class Category:
    """One product category regulators sample, with everything the generator needs for it."""

    name: str
    weight: float  # share of listings, before normalisation
    ccc: bool  # 3C certification compulsory (CNCA catalogue)
    corpus: tuple[tuple[str, float], ...]  # online_shopping_10_cats categories to draw reviews from
    standard: str  # a product standard the description cites
    brands: tuple[Brand, ...]
    white_price: float  # typical price of an unbranded (白牌) unit
    white_share: float  # share of unbranded listings from an honest seller
    # base logits of the four failure types, before merchant and listing effects
    base: tuple[float, float, float, float]  # counterfeit, false advertising, quality, three-no
    products: tuple[str, ...]
    specs: tuple[str, ...]
    points: tuple[str, ...]  # neutral selling points
    efficacy: tuple[str, ...] = ()  # efficacy or composition claims forbidden or usually false here


# one category per block reads better than one value per line
# fmt: off
CATEGORIES: tuple[Category, ...] = (
    Category(
        name="智能手机", weight=9, ccc=True, corpus=(("手机", 1.0),),
        standard="GB 4943.1-2022", white_price=399, white_share=0.04, base=(-0.2, -1.6, -1.6, -4.5),
        brands=(Brand("华为", 4999), Brand("苹果", 5999), Brand("小米", 2299), Brand("OPPO", 2499),
            Brand("vivo", 2499), Brand("荣耀", 1999), Brand("一加", 3299), Brand("三星", 4999),
            Brand("真我", 1399, famous=False), Brand("中兴", 1299, famous=False)),
        products=("智能手机", "5G手机", "全网通手机", "拍照手机", "游戏手机"),
        specs=("8GB+256GB", "12GB+256GB", "12GB+512GB", "16GB+1TB", "6GB+128GB", "6.7英寸"),
        points=("全网通", "5G双卡双待", "超长续航", "120Hz高刷屏", "5000mAh大电池", "影像旗舰", "快充",
            "官方正品", "国行", "顺丰包邮", "分期免息", "最新款"),
        efficacy=("防辐射", "军工级品质", "永不卡顿", "三年不卡"),
    ),
    Category(
        name="平板电脑", weight=5, ccc=True, corpus=(("平板", 1.0),),
        standard="GB 4943.1-2022", white_price=459, white_share=0.08, base=(-0.6, -1.6, -1.4, -3.8),
        brands=(Brand("苹果", 3599), Brand("华为", 2599), Brand("小米", 1799), Brand("联想", 1499),
            Brand("荣耀", 1499), Brand("酷比魔方", 799, famous=False), Brand("台电", 699, famous=False)),
        products=("平板电脑", "学习平板", "二合一平板", "网课平板", "ipad平板"),
        specs=("11英寸", "8GB+128GB", "8GB+256GB", "WiFi版", "10.1英寸", "2.5K屏"),
        points=("护眼屏", "网课学习", "办公娱乐", "长续航", "官方正品", "教育优惠", "顺丰发货", "最新款"),
        efficacy=("防近视", "护眼治疗", "军工级品质", "永不卡顿"),
    ),
    Category(
        name="笔记本电脑", weight=5, ccc=True, corpus=(("计算机", 1.0),),
        standard="GB 4943.1-2022", white_price=1299, white_share=0.03, base=(-0.5, -1.7, -1.5, -4.2),
        brands=(Brand("联想", 4999), Brand("华为", 5999), Brand("苹果", 7999), Brand("戴尔", 4799),
            Brand("惠普", 4299), Brand("华硕", 4999), Brand("宏碁", 3699),
            Brand("机械革命", 5299, famous=False), Brand("神舟", 3999, famous=False)),
        products=("笔记本电脑", "轻薄本", "游戏本", "商务笔记本", "学生笔记本"),
        specs=("i5 16G 512G", "i7 16G 1T", "R7 32G 1T", "14英寸", "15.6英寸", "RTX4060"),
        points=("轻薄便携", "高色域", "办公学习", "电竞游戏", "正品行货", "全国联保", "顺丰包邮", "最新款"),
        efficacy=("防辐射", "军工级品质", "十年不卡"),
    ),
    Category(
        name="电热水壶", weight=7, ccc=True, corpus=(("热水器", 0.5),),
        standard="GB 4706.19-2008", white_price=39, white_share=0.25, base=(-1.5, -1.4, -0.6, -1.8),
        brands=(Brand("美的", 129), Brand("苏泊尔", 139), Brand("九阳", 119), Brand("小熊", 99),
            Brand("飞利浦", 199), Brand("米家", 99), Brand("奥克斯", 69, famous=False),
            Brand("志高", 59, famous=False)),
        products=("电热水壶", "烧水壶", "电水壶", "恒温水壶", "养生壶"),
        specs=("1.7L", "1.5L", "1.8L", "2L", "1800W", "304不锈钢"),
        points=("304不锈钢", "自动断电", "防干烧", "家用大容量", "快速烧水", "双层防烫", "一键保温",
            "最新款"),
        efficacy=("医用级不锈钢", "富氢养生", "除垢抗癌", "降三高"),
    ),
    Category(
        name="电线电缆", weight=4, ccc=True, corpus=(),
        standard="GB/T 5023.3-2008", white_price=129, white_share=0.3, base=(-1.6, -1.3, 0.2, -1.6),
        brands=(Brand("远东", 329), Brand("德力西", 269), Brand("正泰", 259), Brand("起帆", 289),
            Brand("熊猫", 279), Brand("金杯", 299, famous=False)),
        products=("电线", "BV单芯铜线", "家装电线", "国标电缆", "护套线", "硬线"),
        specs=("BV2.5平方 100米", "BV4平方 100米", "BV1.5平方 100米", "BVR6平方 100米", "RVV3*2.5"),
        points=("家装照明", "阻燃", "铜芯", "足米足方", "包检测", "工程用线"),
        efficacy=("国标纯铜", "永不老化", "军工级", "无氧铜"),
    ),
    Category(
        name="移动电源", weight=5, ccc=True, corpus=(),
        standard="GB 31241-2022", white_price=35, white_share=0.3, base=(-1.2, -1.1, -0.4, -1.6),
        brands=(Brand("小米", 99), Brand("安克", 199), Brand("罗马仕", 89), Brand("倍思", 129),
            Brand("品胜", 99, famous=False)),
        products=("充电宝", "移动电源", "快充充电宝", "磁吸充电宝"),
        specs=("10000毫安", "20000毫安", "22.5W", "30000毫安", "PD20W"),
        points=("大容量", "超薄便携", "双向快充", "可上飞机", "自带线", "最新款"),
        efficacy=("永不爆炸", "军工级电芯", "实标50000毫安", "零辐射"),
    ),
    Category(
        name="蚕丝被", weight=5, ccc=False, corpus=(("衣服", 0.25),),
        standard="GB/T 24252-2019", white_price=199, white_share=0.35, base=(-1.5, 0.0, -0.8, -1.5),
        brands=(Brand("富安娜", 899), Brand("罗莱", 999), Brand("水星家纺", 699), Brand("梦洁", 799),
            Brand("太湖雪", 599, famous=False), Brand("丝绸之路", 499, famous=False)),
        products=("蚕丝被", "桑蚕丝被", "春秋被", "子母被", "冬被", "夏凉被"),
        specs=("200x230cm", "220x240cm", "150x200cm", "4斤", "6斤", "8斤"),
        points=("桑蚕丝", "手工拉丝", "轻盈保暖", "透气亲肤", "春秋款", "全棉面料", "送礼佳品"),
        efficacy=("100%桑蚕丝", "治疗失眠", "助眠安神", "远红外理疗", "防螨抗菌", "盖上一觉到天亮"),
    ),
    Category(
        name="纸尿裤", weight=6, ccc=False, corpus=(),
        standard="GB/T 28004.1-2021", white_price=45, white_share=0.12, base=(-0.8, -1.3, -1.4, -1.9),
        brands=(Brand("帮宝适", 129), Brand("花王", 139), Brand("好奇", 119), Brand("尤妮佳", 149),
            Brand("大王", 139), Brand("巴布豆", 69, famous=False)),
        products=("纸尿裤", "拉拉裤", "尿不湿", "婴儿纸尿裤"),
        specs=("L码 52片", "M码 64片", "XL码 44片", "NB码 80片", "S码 76片"),
        points=("超薄透气", "干爽", "防漏", "弹力腰围", "新生儿可用", "整箱发"),
        efficacy=("零过敏", "医用级", "治疗红屁屁", "100%不红屁屁"),
    ),
    Category(
        name="婴幼儿牙胶", weight=3, ccc=False, corpus=(),
        standard="GB 4806.11-2023", white_price=12, white_share=0.4, base=(-1.6, -1.1, -0.6, -1.3),
        brands=(Brand("贝亲", 45), Brand("世喜", 39), Brand("可优比", 35), Brand("NUK", 55),
            Brand("好孩子", 29, famous=False)),
        products=("牙胶", "磨牙棒", "婴儿牙胶", "安抚牙胶", "硅胶牙胶"),
        specs=("3个月+", "6个月+", "食品级硅胶", "2只装", "带收纳盒"),
        points=("食品级硅胶", "可水煮", "防吞咽", "宝宝出牙", "无BPA"),
        efficacy=("促进大脑发育", "缓解出牙发烧", "医用级", "抗菌消炎", "长牙不哭闹"),
    ),
    Category(
        name="家具", weight=5, ccc=False, corpus=(),
        standard="GB 18584-2024", white_price=699, white_share=0.45, base=(-2.0, -0.7, -0.4, -1.7),
        brands=(Brand("全友", 2499), Brand("顾家家居", 3999), Brand("林氏家居", 1999), Brand("宜家", 1499),
            Brand("源氏木语", 2199, famous=False)),
        products=("实木衣柜", "书桌", "床头柜", "实木床", "沙发", "餐桌椅", "电脑桌"),
        specs=("1.8米", "1.5米", "120cm", "两门", "四门", "一桌四椅"),
        points=("北欧风", "简约现代", "免安装", "送货上门", "环保板材", "大容量"),
        efficacy=("零甲醛", "纯实木", "母婴级", "E0级环保"),
    ),
    Category(
        name="化肥", weight=3, ccc=False, corpus=(),
        standard="GB/T 15063-2020", white_price=79, white_share=0.35, base=(-1.3, -0.6, 0.1, -1.4),
        brands=(Brand("史丹利", 139), Brand("金正大", 149), Brand("心连心", 129), Brand("云天化", 135),
            Brand("中化", 145)),
        products=("复合肥", "水溶肥", "有机肥", "尿素", "钾肥", "叶面肥"),
        specs=("50kg", "40kg", "15-15-15", "N-P-K 17-17-17", "含量45%", "25kg"),
        points=("高含量", "速溶", "果树蔬菜通用", "农资", "厂家直销", "包邮到村"),
        efficacy=("增产300%", "国家免检", "根治病虫害", "一次施肥管全年", "亩产翻一番"),
    ),
    Category(
        name="农膜", weight=2, ccc=False, corpus=(),
        standard="GB 13735-2017", white_price=39, white_share=0.55, base=(-3.0, -0.8, 0.0, -1.2),
        brands=(Brand("天龙", 89, famous=False), Brand("华盾", 79, famous=False),
            Brand("鲁丰", 69, famous=False)),
        products=("地膜", "大棚膜", "农用薄膜", "黑色地膜", "保温膜"),
        specs=("0.01mm", "0.008mm", "宽1.2米", "宽2米", "长500米", "8丝"),
        points=("透光", "保温保湿", "加厚", "耐老化", "大棚专用", "包邮"),
        efficacy=("永不老化", "十年不破", "国家免检"),
    ),
    Category(
        name="服装", weight=10, ccc=False, corpus=(("衣服", 1.0),),
        standard="GB 18401-2010", white_price=59, white_share=0.4, base=(-0.8, -1.0, -1.2, -2.3),
        brands=(Brand("李宁", 259), Brand("安踏", 199), Brand("优衣库", 149), Brand("波司登", 899),
            Brand("太平鸟", 399), Brand("海澜之家", 199), Brand("耐克", 499), Brand("阿迪达斯", 499)),
        products=("T恤", "羽绒服", "卫衣", "运动裤", "外套", "连衣裙", "衬衫", "夹克"),
        specs=("M", "L", "XL", "S-3XL", "宽松版", "修身版"),
        points=("纯棉", "宽松百搭", "春秋新款", "情侣款", "显瘦", "加绒加厚", "最新款"),
        efficacy=("100%纯棉", "90%白鹅绒", "防辐射", "磁疗理疗"),
    ),
    Category(
        name="洗发水", weight=7, ccc=False, corpus=(("洗发水", 1.0),),
        standard="GB/T 29679-2013", white_price=19, white_share=0.15, base=(-0.7, -0.5, -1.8, -2.3),
        brands=(Brand("海飞丝", 59), Brand("潘婷", 49), Brand("清扬", 59), Brand("飘柔", 39),
            Brand("滋源", 79), Brand("阿道夫", 69), Brand("霸王", 59, famous=False)),
        products=("洗发水", "洗发露", "去屑洗发水", "控油洗发水", "氨基酸洗发水"),
        specs=("750ml", "500ml", "400ml", "1L", "750ml*2瓶"),
        points=("去屑止痒", "控油蓬松", "柔顺", "无硅油", "持久留香", "家庭装"),
        efficacy=("防脱生发", "根治头屑", "白发转黑", "7天长出新发", "治疗脱发", "发际线回来了"),
    ),
    Category(
        name="水果", weight=8, ccc=False, corpus=(("水果", 1.0),),
        standard="GB 2763-2021", white_price=29, white_share=0.7, base=(-1.4, -1.2, -1.7, -2.0),
        brands=(Brand("褚橙", 98, products=("冰糖橙", "褚橙")),
            Brand("佳沛", 129, products=("阳光金果奇异果", "绿心猕猴桃")),
            Brand("都乐", 79, products=("香蕉", "菲律宾凤梨")), Brand("百果园", 69, famous=False)),
        products=("赣南脐橙", "阳光玫瑰葡萄", "红心猕猴桃", "丑橘", "烟台苹果", "车厘子", "沃柑"),
        specs=("5斤", "10斤", "3斤装", "大果", "精品果", "特级果"),
        points=("产地直发", "新鲜现摘", "当季", "脆甜多汁", "坏果包赔", "顺丰冷链"),
        efficacy=("抗癌", "降血糖", "降血压", "治疗便秘", "吃出好血管"),
    ),
    Category(
        name="牛奶", weight=4, ccc=False, corpus=(("蒙牛", 1.0),),
        standard="GB 25190-2010", white_price=29, white_share=0.1, base=(-1.0, -1.0, -2.2, -2.8),
        brands=(Brand("蒙牛", 69), Brand("伊利", 65), Brand("特仑苏", 79), Brand("光明", 59),
            Brand("君乐宝", 49, famous=False)),
        products=("纯牛奶", "全脂牛奶", "高钙奶", "儿童奶", "有机纯牛奶"),
        specs=("250ml*16盒", "250ml*24盒", "200ml*12盒", "1L*6盒", "整箱"),
        points=("营养早餐", "生牛乳", "送礼", "整箱装", "新日期"),
        efficacy=("增强免疫力", "长高", "补脑益智", "治疗"),
    ),
    Category(
        name="儿童玩具", weight=5, ccc=True, corpus=(),
        standard="GB 6675.1-2014", white_price=29, white_share=0.45, base=(-0.9, -1.2, -0.5, -1.3),
        brands=(Brand("乐高", 399), Brand("奥迪双钻", 129), Brand("贝恩施", 89, famous=False),
            Brand("费雪", 149), Brand("澳贝", 79, famous=False)),
        products=("积木", "遥控车", "早教玩具", "益智拼图", "毛绒玩具", "儿童玩具"),
        specs=("3-6岁", "1000+颗粒", "礼盒装", "充电版", "0-3岁"),
        points=("益智", "生日礼物", "拼装", "亲子互动", "大颗粒"),
        efficacy=("促进智力发育", "零毒", "医用级"),
    ),
    Category(
        name="电吹风", weight=4, ccc=True, corpus=(),
        standard="GB 4706.15-2008", white_price=35, white_share=0.35, base=(-0.7, -1.1, -0.8, -1.6),
        brands=(Brand("戴森", 2999), Brand("飞利浦", 199), Brand("松下", 299), Brand("徕芬", 599),
            Brand("米家", 149), Brand("奔腾", 79, famous=False)),
        products=("吹风机", "电吹风", "负离子吹风机", "高速吹风机"),
        specs=("1800W", "2000W", "110000转", "可折叠", "恒温"),
        points=("负离子护发", "速干", "大风力", "静音", "家用", "最新款"),
        efficacy=("生发防脱", "治疗头痛", "医用级"),
    ),
)
# fmt: on

#: platforms with their share of shops and a platform risk shift (low-price marketplaces and live commerce
#: show higher failure rates in market-regulation sampling reports)
PLATFORMS: tuple[tuple[str, float, float], ...] = (
    ("淘宝", 0.26, 0.05),
    ("天猫", 0.12, -0.35),
    ("京东", 0.14, -0.30),
    ("拼多多", 0.22, 0.25),
    ("抖音", 0.14, 0.20),
    ("快手", 0.08, 0.25),
    ("小红书", 0.04, 0.0),
)

#: regions: 行政区划代码 (first six digits of a credit code's registration area) and the city name
REGIONS: tuple[tuple[str, str, float], ...] = (
    ("330100", "浙江省杭州市", 0.12),
    ("330782", "浙江省义乌市", 0.10),
    ("440300", "广东省深圳市", 0.13),
    ("440100", "广东省广州市", 0.10),
    ("441900", "广东省东莞市", 0.06),
    ("310000", "上海市", 0.07),
    ("110000", "北京市", 0.05),
    ("320500", "江苏省苏州市", 0.06),
    ("350500", "福建省泉州市", 0.06),
    ("350300", "福建省莆田市", 0.03),
    ("370200", "山东省青岛市", 0.04),
    ("370100", "山东省济南市", 0.03),
    ("410100", "河南省郑州市", 0.04),
    ("420100", "湖北省武汉市", 0.04),
    ("510100", "四川省成都市", 0.04),
    ("360700", "江西省赣州市", 0.03),
)

# shop-name parts
SHOP_HEADS = (
    "鑫",
    "源",
    "恒",
    "佳",
    "兴",
    "盛",
    "诚",
    "信",
    "泰",
    "华",
    "美",
    "优",
    "品",
    "汇",
    "聚",
    "锦",
    "乐",
    "福",
    "顺",
    "达",
    "宏",
    "瑞",
    "祥",
    "旺",
    "嘉",
    "博",
    "星",
    "悦",
    "航",
    "晨",
    "木",
    "森",
    "禾",
    "小",
    "大",
    "阿",
)
SHOP_TRADES = {
    "智能手机": "数码",
    "平板电脑": "数码",
    "笔记本电脑": "电脑",
    "电热水壶": "电器",
    "电线电缆": "五金",
    "移动电源": "数码",
    "蚕丝被": "家纺",
    "纸尿裤": "母婴",
    "婴幼儿牙胶": "母婴",
    "家具": "家居",
    "化肥": "农资",
    "农膜": "农资",
    "服装": "服饰",
    "洗发水": "日化",
    "水果": "果园",
    "牛奶": "食品",
    "儿童玩具": "玩具",
    "电吹风": "电器",
}
SHOP_TAILS_HONEST = ("专营店", "专卖店", "企业店", "官方店", "生活馆", "严选", "旗舰店", "小店")
SHOP_TAILS_SHADY = ("工厂店", "折扣店", "正品店", "源头工厂", "特卖", "小店", "优选", "清仓")

# absolute / superlative claims (广告法 第九条). Some are in every lexicon, some only in this simulator.
ABSOLUTE_CLAIMS = (
    "国家级",
    "最好",
    "第一品牌",
    "顶级",
    "极品",
    "全网最低价",
    "销量第一",
    "史上最强",
    "最佳",
    "首选",
    "独家",
    "世界级",
    "王牌",
    "绝对正品",
    "100%有效",
    "万能",
    # text-only: no fixed word list should have these (see the note at COUNTERFEIT_CUES)
    "天花板级",
    "吊打同价位",
    "遥遥领先",
    "闭眼入",
    "行业标杆",
    "无可替代",
    "全国销冠",
    "秒杀一切",
)
# innocent uses of the same characters that honest shops write all the time
INNOCENT_SUPERLATIVES = ("最新款", "最快当天发", "最近热卖", "第一次购买送赠品", "最后一天特价")

# counterfeit cues; the second group is text-only
COUNTERFEIT_CUES = (
    "高仿",
    "原单",
    "1:1",
    "复刻",
    "A货",
    "精仿",
    "尾单",
    "同款",
    "专柜品质",
    "公司级",
    "纯原",
    # text-only (keep these out of data/lexicons: a lexicon copied from the simulator would let a model
    # score itself on the answer key)
    "同厂同料",
    "版本对比专柜无差",
    "懂的来",
    "实物拍摄细节可对比",
    "出口转内销",
    "开模版",
    "撤柜货",
    "海外代购无小票",
    "正品平替",
)
# cues an honest seller may also write
INNOCENT_CUES = ("外贸原单", "工厂直供", "假一赔十", "支持专柜验货")

OFFSITE_TEMPLATES = (
    "加微❤信{wx}领优惠",
    "V信{wx}",
    "薇{wx}",
    "+v:{wx}",
    "QQ:{qq}",
    "扣扣{qq}",
    "详询电话{tel}",
    "加威信{wx}返现",
    "私聊{tel}",
)

SERVICE = (
    "七天无理由退换",
    "顺丰包邮",
    "下单送运费险",
    "48小时内发货",
    "全国联保",
    "坏单包赔",
    "支持开发票",
)

COMPANY_TAILS = ("有限公司", "科技有限公司", "实业有限公司", "贸易有限公司", "制品厂")

# traditional forms of the characters the claims use (evasion: 國家級)
TRADITIONAL = str.maketrans(
    {
        "国": "國",
        "级": "級",
        "顶": "頂",
        "仿": "倣",
        "单": "單",
        "复": "復",
        "发": "發",
        "脱": "脫",
        "疗": "療",
        "产": "產",
        "检": "檢",
        "质": "質",
        "专": "專",
        "柜": "櫃",
        "价": "價",
        "优": "優",
        "惠": "惠",
        "网": "網",
        "销": "銷",
        "冠": "冠",
        "码": "碼",
        "货": "貨",
        "厂": "廠",
        "渠": "渠",
        "医": "醫",
        "药": "藥",
        "长": "長",
        "压": "壓",
        "经": "經",
        "营": "營",
        "费": "費",
        "绝": "絕",
        "对": "對",
        "极": "極",
        "强": "強",
        "领": "領",
        "劲": "勁",
        "还": "還",
        "原": "原",
        "过": "過",
        "验": "驗",
        "版": "版",
        "独": "獨",
        "家": "家",
        "无": "無",
        "杆": "桿",
        "样": "樣",
        "见": "見",
    }
)
# romanised forms a dishonest seller swaps in for the tell-tale words
PINYIN = {
    "国家级": "guojia级",
    "高仿": "gao仿",
    "微信": "weixin",
    "复刻": "fu刻",
    "顶级": "dingji",
    "原单": "yuan单",
    "防脱": "fang脱",
    "第一": "di一",
}
