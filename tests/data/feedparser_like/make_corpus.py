"""Writes the files of this folder (run it from anywhere); expected.json says how each must read.

Feeds built to be like feedparser's own ill-formed, encoding and sanitizer tests (its sdist
carries 2,000+; see tests/test_feedparser_corpus.py for running those too).
"""

import codecs
from pathlib import Path

OUT = Path(__file__).resolve().parent
RSS_HEAD = "<rss version='2.0'><channel><title>Corpus</title><link>https://corpus.example/</link>"
RSS_TAIL = "</channel></rss>"


def rss(items: str, decl: str = "<?xml version='1.0' encoding='utf-8'?>\n") -> str:
    return f"{decl}{RSS_HEAD}\n{items}\n{RSS_TAIL}\n"


def item(title: str, guid: str, description: str = "Body.", link: str | None = None) -> str:
    link_xml = f"<link>{link}</link>" if link else ""
    return (
        f"<item><title>{title}</title><guid isPermaLink='false'>{guid}</guid>{link_xml}"
        f"<description>{description}</description></item>"
    )


def write(name: str, data: bytes | str) -> None:
    path = OUT / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


# ---- ill-formed --------------------------------------------------------------------------
write(
    "illformed/unclosed-item.xml",
    rss(item("First", "1") + "<item><title>Second</title><guid>2</guid>" + item("Third", "3")),
)
write(
    "illformed/mismatched-tags.xml",
    rss("<item><title>Troops <b>sent</title></b><guid>1</guid></item>"),
)
write("illformed/bare-ampersand.xml", rss(item("Tom & Jerry return", "1", "Fish & chips")))
write(
    "illformed/html-entities-undeclared.xml",
    rss(item("Caf&eacute; r&eacute;ouvert&nbsp;today", "1", "A&nbsp;B &copy; C")),
)
write(
    "illformed/incomplete-cdata.xml",
    rss(item("Kept", "1")).replace(
        RSS_TAIL, "<item><title>Open</title><guid>2</guid><description><![CDATA[never closed"
    ),
)
write("illformed/truncated.xml", rss(item("Whole", "1") + item("Cut short", "2"))[:-60])
write(
    "illformed/garbage-after-root.xml",
    rss(item("Before garbage", "1")) + "<<<>>> trailing junk &&& \x00",
)
write("illformed/junk-before-declaration.xml", "\n\n   " + rss(item("After junk", "1")))
write(
    "illformed/no-closing-tags.xml",
    "<?xml version='1.0'?><rss version='2.0'><channel><title>C</title>"
    "<item><title>Open ended</title><guid>1</guid>",
)
write(
    "illformed/uppercase-tags.xml",
    "<?xml version='1.0'?><RSS version='2.0'><CHANNEL><TITLE>C</TITLE>"
    "<ITEM><TITLE>Shouting</TITLE><GUID>1</GUID></ITEM></CHANNEL></RSS>",
)
write(
    "illformed/nul-and-controls.xml",
    rss(item("Nul\x00 and bell\x07 and esc\x1b[2J", "1", "Body\x00 text")),
)
write(
    "illformed/two-titles.xml",
    rss("<item><title>One</title><title>Two</title><guid>1</guid></item>"),
)
write(
    "illformed/atom-without-namespace.xml",
    "<?xml version='1.0'?><feed><title>C</title><entry><title>No namespace</title>"
    "<id>urn:1</id><link href='https://a.example/1'/></entry></feed>",
)
write("illformed/unescaped-lt-in-text.xml", rss(item("Temperature < 0 in Kyiv", "1", "a < b")))
write(
    "illformed/undeclared-namespace-prefix.xml",
    rss(
        "<item><title>Prefixed</title><guid>1</guid><dc:creator>Someone</dc:creator>"
        "<media:content url='https://a.example/i.jpg'/></item>"
    ),
)
write(
    "illformed/empty-items.xml",
    rss("<item/><item></item><item><title></title></item>" + item("Real one", "r")),
)
write(
    "illformed/deeply-nested.xml",
    rss(item("Deep", "1", "&lt;div&gt;" * 5000 + "text" + "&lt;/div&gt;" * 5000)),
)
write(
    "illformed/rss-1.0-rdf.xml",
    "<?xml version='1.0'?><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' "
    "xmlns='http://purl.org/rss/1.0/'><channel rdf:about='https://a.example/'><title>C</title>"
    "</channel><item rdf:about='https://a.example/1'><title>RDF item</title>"
    "<link>https://a.example/1</link></item></rdf:RDF>",
)

# ---- encodings ---------------------------------------------------------------------------
CAFE = "Café in Zürich: “quotes” – dash"
write("encoding/utf8-bom.xml", codecs.BOM_UTF8 + rss(item(CAFE, "1")).encode())
for enc, bom in (
    ("utf-16-le", codecs.BOM_UTF16_LE),
    ("utf-16-be", codecs.BOM_UTF16_BE),
    ("utf-32-le", codecs.BOM_UTF32_LE),
):
    write(
        f"encoding/{enc}-bom.xml",
        bom
        + rss(
            item(CAFE, "1"),
            decl="<?xml version='1.0' encoding='utf-16'?>\n"
            if "16" in enc
            else "<?xml version='1.0' encoding='utf-32'?>\n",
        ).encode(enc),
    )
write(
    "encoding/utf-16-le-no-bom.xml",
    rss(item(CAFE, "1"), decl="<?xml version='1.0' encoding='utf-16le'?>\n").encode("utf-16-le"),
)
write(
    "encoding/latin1-declared.xml",
    rss(item("Café in Zürich", "1"), decl="<?xml version='1.0' encoding='iso-8859-1'?>\n").encode(
        "latin-1"
    ),
)
write(
    "encoding/cp1252-declared.xml",
    rss(item(CAFE, "1"), decl="<?xml version='1.0' encoding='windows-1252'?>\n").encode("cp1252"),
)
write(
    "encoding/cp1252-undeclared.xml",
    rss(item(CAFE, "1"), decl="<?xml version='1.0'?>\n").encode("cp1252"),
)
write("encoding/utf8-declared-but-cp1252.xml", rss(item(CAFE, "1")).encode("cp1252"))
write(
    "encoding/latin1-declared-but-utf8.xml",
    rss(item("Café in Zürich", "1"), decl="<?xml version='1.0' encoding='iso-8859-1'?>\n").encode(
        "utf-8"
    ),
)
write(
    "encoding/koi8-r-declared.xml",
    rss(
        item("Войска направлены к границе", "1"), decl="<?xml version='1.0' encoding='koi8-r'?>\n"
    ).encode("koi8-r"),
)
write(
    "encoding/windows-1251-declared.xml",
    rss(
        item("Войска направлены к границе", "1"),
        decl="<?xml version='1.0' encoding='windows-1251'?>\n",
    ).encode("cp1251"),
)
write(
    "encoding/shift-jis-declared.xml",
    rss(item("部隊を派遣した", "1"), decl="<?xml version='1.0' encoding='shift_jis'?>\n").encode(
        "shift_jis"
    ),
)
write(
    "encoding/euc-kr-declared.xml",
    rss(item("북한군 파병", "1"), decl="<?xml version='1.0' encoding='euc-kr'?>\n").encode(
        "euc-kr"
    ),
)
write(
    "encoding/gb2312-declared.xml",
    rss(item("部队部署", "1"), decl="<?xml version='1.0' encoding='gb2312'?>\n").encode("gb2312"),
)
write(
    "encoding/bogus-encoding-name.xml",
    rss(item(CAFE, "1"), decl="<?xml version='1.0' encoding='x-klingon'?>\n").encode("utf-8"),
)
write(
    "encoding/invalid-utf8-byte.xml",
    rss(item("Broken \udcff byte", "1")).encode("utf-8", "surrogateescape"),
)
write(
    "encoding/mixed-utf8-and-latin1.xml",
    rss(item("Café", "1")).encode("utf-8").replace(b"Body.", "Zürich".encode("latin-1")),
)
write(
    "encoding/ebcdic-cp037.xml",
    rss(item("Mainframe news", "1"), decl="<?xml version='1.0' encoding='cp037'?>\n").encode(
        "cp037"
    ),
)
write(
    "encoding/utf-7-declared.xml",
    rss(item("Seven bits", "1"), decl="<?xml version='1.0' encoding='utf-7'?>\n").encode("utf-7"),
)
write("encoding/numeric-references.xml", rss(item("Caf&#233; &#x201C;q&#x201D; &#128512;", "1")))
write(
    "encoding/double-encoded-html.xml",
    rss(item("Tom &amp;amp; Jerry", "1", "&amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt;")),
)

# ---- CDATA ---------------------------------------------------------------------------------
write("cdata/title-in-cdata.xml", rss(item("<![CDATA[Troops & tanks]]>", "1")))
write(
    "cdata/description-html-in-cdata.xml",
    rss(item("Html body", "1", "<![CDATA[<p>First <b>bold</b> para.</p><p>Second.</p>]]>")),
)
write("cdata/split-terminator.xml", rss(item("Split", "1", "<![CDATA[a ]]]]><![CDATA[> b]]>")))
write(
    "cdata/cdata-guid-and-link.xml",
    rss(
        "<item><title>Wrapped</title><guid><![CDATA[ guid-in-cdata ]]></guid><link><![CDATA[https://a.example/x?utm_source=rss&id=7]]></link></item>"
    ),
)
write(
    "cdata/entities-stay-text-in-cdata.xml",
    rss(item("Literal", "1", "<![CDATA[&amp; &lt;b&gt; stay as written]]>")),
)
write("cdata/empty-cdata.xml", rss(item("<![CDATA[]]>Only after", "1", "<![CDATA[]]>")))
write(
    "cdata/script-in-cdata.xml",
    rss(item("Scripted", "1", "<![CDATA[Before<script>alert('x')</script>After]]>")),
)

# ---- sanitizer -----------------------------------------------------------------------------
SAN = {
    "script-escaped": "Safe &lt;script&gt;alert(1)&lt;/script&gt; text",
    "onclick": "&lt;p onclick='alert(1)'&gt;Click text&lt;/p&gt;",
    "javascript-href": "&lt;a href='javascript:alert(1)'&gt;link text&lt;/a&gt;",
    "style-expression": "&lt;div style='width: expression(alert(1))'&gt;styled&lt;/div&gt;",
    "iframe": "&lt;iframe src='https://evil.example/'&gt;frame text&lt;/iframe&gt;visible",
    "object-embed": "&lt;object data='x.swf'&gt;&lt;embed src='x.swf'&gt;&lt;/object&gt;visible",
    "svg-script": "&lt;svg&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;/svg&gt;visible",
    "meta-refresh": "&lt;meta http-equiv='refresh' content='0;url=https://evil.example/'&gt;visible",
    "style-block": "&lt;style&gt;body{display:none}&lt;/style&gt;visible",
    "img-onerror": "&lt;img src=x onerror='alert(1)'&gt;visible",
    "comment-trick": "&lt;!-- --&gt;&lt;script&gt;alert(1)&lt;/script&gt; --&gt;visible",
    "data-uri": "&lt;a href='data:text/html,&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;'"
    "&gt;visible&lt;/a&gt;",
}
for name, html in SAN.items():
    write(f"sanitize/{name}.xml", rss(item(f"Sanitize {name}", name, html)))
write(
    "sanitize/javascript-item-link.xml",
    rss(item("Bad link", "1", link="javascript:alert(document.cookie)")),
)
write(
    "sanitize/data-item-link.xml",
    rss(item("Data link", "1", link="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==")),
)
write("sanitize/file-item-link.xml", rss(item("File link", "1", link="file:///etc/passwd")))
write(
    "sanitize/escaped-markup-title.xml",
    rss(item("&lt;!channel&gt; &lt;@U123&gt; &lt;script&gt;", "1")),
)
