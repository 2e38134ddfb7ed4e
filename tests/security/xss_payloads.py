"""Cross-site scripting payloads for tests/security/test_xss_corpus.py.

Every payload, if it ever ran, would do one of three visible things: set
`window.__xss`, set `document.title` to "XSS", or open a dialog (alert, confirm,
prompt). The browser tests look for all three, and for what would run on a click or a
focus: event-handler attributes and script URLs in the parsed DOM.

Sources: the OWASP filter evasion cheat sheet, PortSwigger's XSS cheat sheet, and the
mutation-XSS payloads behind bleach's advisories (CVE-2020-6802, CVE-2020-6816,
CVE-2021-23980: namespace confusion between HTML, SVG and MathML around <style>,
<noscript> and comments) and DOMPurify's mXSS bypasses of 2019 to 2024.
"""

RUN = "window.__xss=1"
TITLE = "document.title='XSS'"

SCRIPT_TAGS = [
    f"<script>{RUN}</script>",
    f"<SCRIPT>{TITLE}</SCRIPT>",
    f"<script src=data:text/javascript,{RUN}></script>",
    f"<script\n>{RUN}</script\n>",
    f"<scr<script>ipt>{RUN}</scr</script>ipt>",
    f"<<script>{RUN};//<</script>",
    f"<script/x>{RUN}</script>",
    f'<script type="text/javascript">{RUN}</script>',
    f'<script type="module">{RUN}</script>',
    "<script>alert(1)</script>",
    f"<scr\x00ipt>{RUN}</scr\x00ipt>",
    f"<ScRiPt >{RUN}</ScRiPt >",
    f"&lt;script&gt;{RUN}&lt;/script&gt;",
    f"+ADw-script+AD4-{RUN}+ADw-/script+AD4-",
    f"＜script＞{RUN}＜/script＞",
]

EVENT_HANDLERS = [
    f"<img src=x onerror={RUN}>",
    f'<img src="x" onerror="{TITLE}">',
    f"<IMG SRC=x OnErRoR={RUN}>",
    "<img src=x onerror=&#119;indow.__xss=1>",
    f"<img/src=x/onerror={RUN}>",
    '<img src=x onerror="&#x77;&#x69;&#x6e;&#x64;&#x6f;&#x77;.__xss=1">',
    f'<img srcset=",,,,x onerror={RUN}">',
    f"<svg onload={RUN}>",
    f"<svg/onload={RUN}>",
    f"<body onload={RUN}>",
    f"<body onpageshow={RUN}>",
    f"<details open ontoggle={RUN}>",
    f"<input autofocus onfocus={RUN}>",
    f"<select autofocus onfocus={RUN}></select>",
    f"<textarea autofocus onfocus={RUN}></textarea>",
    f"<video><source onerror={RUN}></video>",
    f"<audio src=x onerror={RUN}>",
    f"<marquee onstart={RUN}>x</marquee>",
    f"<iframe onload={RUN}></iframe>",
    f"<object data=x onerror={RUN}></object>",
    f'<div onmouseover="{RUN}" style="position:fixed;inset:0">x</div>',
    f'<p onclick="{RUN}">click me</p>',
    f'<a href="https://example.test" onclick="{RUN}">x</a>',
    f'<a href="https://example.test" onmouseover={RUN}>x</a>',
    f'<table background="javascript:{RUN}"><tr><td onclick="{RUN}">x</td></tr></table>',
    f'<td align="left" onmouseover="{RUN}">x</td>',
    f'<abbr title="x" onmouseover="{RUN}">x</abbr>',
    f"<frameset onload={RUN}>",
    f"<style onload={RUN}></style>",
    f"<svg><animate onbegin={RUN} attributeName=x dur=1s>",
    f"<picture><source srcset=x><img src=x onerror={RUN}></picture>",
    f"<math><maction actiontype=statusline onmouseover={RUN}>x</maction></math>",
]

# Mutation XSS: markup whose meaning changes between the sanitiser's parse, its
# serialisation and the browser's second parse.
MUTATION = [
    # bleach CVE-2020-6802: noscript and style.
    f"<noscript><style></noscript><img src=x onerror={RUN}>",
    f'<noscript><p title="</noscript><img src=x onerror={RUN}>">',
    # bleach CVE-2020-6816: math and svg with style and comments.
    f"<math></p><style><!--</style><img src/onerror={RUN}>",
    f"<math><style><img src=x onerror={RUN}></style></math>",
    f"<svg><style><img src=x onerror={RUN}></style></svg>",
    f"<svg></p><style><!--</style><img src/onerror={RUN}>",
    # bleach CVE-2021-23980: svg, p, style and a comment.
    f'<svg></p><style><a id="</style><img src=1 onerror={RUN}>">',
    f"<math></br><style><!--</style><img src/onerror={RUN}>-->",
    # DOMPurify mXSS: mglyph and malignmark in MathML text integration points.
    f"<math><mtext><table><mglyph><style><img src=x onerror={RUN}>",
    (
        "<math><mtext><table><mglyph><style><!--</style>"
        f'<img title="--&gt;&lt;img src=1 onerror={RUN}&gt;">'
    ),
    f"<form><math><mtext></form><form><mglyph><style></math><img src onerror={RUN}>",
    (
        "<math><mtext><h1><a><h6></a></h6><mglyph><svg><mtext><style>"
        f'<a title="</style><img src onerror={RUN}>"></style></h1>'
    ),
    f'<math><mi//xlink:href="data:x,<script>{RUN}</script>">',
    f"<svg><p><style><img src=x onerror={RUN}></style></p></svg>",
    f"<table><td><math><mtext></mtext><mglyph><style><img src=x onerror={RUN}>",
    f"<a><table><a><svg><style><img src=x onerror={RUN}>",
    f"<table><tbody><tr><td><svg><foreignobject><style><img src=x onerror={RUN}>",
    f"<svg><foreignObject><p><style><img src=x onerror={RUN}></style></p></foreignObject></svg>",
    f"<svg><desc><style><img src=x onerror={RUN}></style></desc></svg>",
    f"<math><annotation-xml encoding=text/html><style><img src=x onerror={RUN}></style>",
    # Raw-text and escapable-raw-text elements hiding a closing tag in an attribute.
    f'<xmp><p title="</xmp><img src=x onerror={RUN}>">',
    f'<noembed><img title="</noembed><img src=x onerror={RUN}>"></noembed>',
    f'<noframes><p title="</noframes><img src=x onerror={RUN}>">',
    f'<iframe><img title="</iframe><img src=x onerror={RUN}>"></iframe>',
    f'<textarea><img title="</textarea><img src=x onerror={RUN}>">',
    f'<title><img title="</title><img src=x onerror={RUN}>">',
    f'<style><img src="</style><img src=x onerror={RUN}>">',
    f"<template><style></template><img src=x onerror={RUN}>",
    f"<plaintext><img src=x onerror={RUN}>",
    # Comments, CDATA and processing instructions.
    f"<!--><img src=x onerror={RUN}>-->",
    f"<!-- --!><img src=x onerror={RUN}>-->",
    f'<!--<img src="--><img src=x onerror={RUN}//">',
    f"<svg><![CDATA[><img src=x onerror={RUN}>]]></svg>",
    f"<?xml-stylesheet href=x?><img src=x onerror={RUN}>",
    f"<![CDATA[<script>{RUN}</script>]]>",
    # Foster parenting and misnested formatting elements around allowed tags.
    f"<table><a href='https://example.test'><img src=x onerror={RUN}></a></table>",
    f"<table><tr><p><img src=x onerror={RUN}></p></tr></table>",
    f"<ul><li><table><li><img src=x onerror={RUN}></table></ul>",
    f"<a href=https://example.test><a href=javascript:{RUN}>x</a></a>",
    f"<p><pre><code><img src=x onerror={RUN}></code></pre></p>",
    f"<code><script>{RUN}</script></code>",
]

URLS = [
    # Markdown links and images.
    f"[click](javascript:{RUN})",
    f"[click](JaVaScRiPt:{RUN})",
    f"[click](java&#x09;script:{RUN})",
    f"[click](&#106;avascript:{RUN})",
    f"[click]( javascript:{RUN})",
    f"[click](javascript&colon;{RUN})",
    f"[click](<javascript:{RUN}>)",
    "[click](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9MTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    f"[click](javascript://example.test/%0a{RUN})",
    f"[click][evil]\n\n[evil]: javascript:{RUN}",
    f"![alt](javascript:{RUN})",
    f'![alt](x" onerror="{RUN})',
    f'[click](https://example.test" onclick="{RUN})',
    f'[click](https://example.test "title\\" onmouseover=\\"{RUN}")',
    f"[click](https://example.test 'x\" onmouseover=\"{RUN}')",
    f"<javascript:{RUN}>",
    f'<https://example.test/" onmouseover="{RUN}>',
    # HTML links with entity, whitespace and control-character tricks.
    f'<a href="javascript:{RUN}">x</a>',
    f'<a href="jav&#x0A;ascript:{RUN}">x</a>',
    f'<a href="jav\tascript:{RUN}">x</a>',
    f'<a href=" &#14;  javascript:{RUN}">x</a>',
    f'<a href="\x01javascript:{RUN}">x</a>',
    f'<a href="javascript&#58;{RUN}">x</a>',
    f'<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;{RUN}">x</a>',
    (
        '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114'
        f'&#0000105&#0000112&#0000116&#0000058{RUN}">x</a>'
    ),
    f'<a href="data:text/html,<script>{RUN}</script>">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    f'<a href="javascript:{RUN}" title="&quot;&gt;&lt;img src=x onerror={RUN}&gt;">x</a>',
    f"<a href='https://example.test' title='x\" onmouseover=\"{RUN}'>x</a>",
    # Bare text the linkifier turns into links.
    f'www.example.test/"onmouseover="{RUN}',
    f"https://example.test/<script>{RUN}</script>",
    f'mailto:x@example.test"onclick="{RUN}"',
    f"javascript:{RUN}",
    f"data:text/html,<script>{RUN}</script>",
    # Other places a URL is followed.
    f'<base href="javascript:{RUN}//">',
    f'<meta http-equiv="refresh" content="0;url=javascript:{RUN}">',
    f'<form action="javascript:{RUN}"><button>go</button></form>',
    f'<button formaction="javascript:{RUN}">go</button>',
    f'<isindex action="javascript:{RUN}" type=image>',
    f'<object data="javascript:{RUN}"></object>',
    f'<embed src="data:text/html,<script>{RUN}</script>">',
    f'<iframe src="javascript:{RUN}"></iframe>',
    f'<iframe srcdoc="<script>parent.{RUN}</script>"></iframe>',
    f'<link rel="import" href="data:text/html,<script>{RUN}</script>">',
    f'<svg><a xlink:href="javascript:{RUN}"><text x="20" y="20">x</text></a></svg>',
    f'<svg><set attributeName="href" to="javascript:{RUN}"/></svg>',
    f'<math href="javascript:{RUN}">x</math>',
]

# Leaving the context the text is placed in: attributes, titles, textareas.
BREAKING_OUT = [
    f'"><script>{RUN}</script>',
    f"'><img src=x onerror={RUN}>",
    f'" onmouseover="{RUN}',
    f"' onmouseover='{RUN}",
    f"`><svg onload={RUN}>",
    f"</textarea><script>{RUN}</script>",
    f"</title><script>{RUN}</script>",
    f"</style><script>{RUN}</script>",
    f"</option></select><img src=x onerror={RUN}>",
    f"--><script>{RUN}</script>",
    f"]]><script>{RUN}</script>",
    f"</script><script>{RUN}</script>",
    f"\\u003c/script\\u003e\\u003cscript\\u003e{RUN}\\u003c/script\\u003e",
    f'{{"x": "</code><script>{RUN}</script>"}}',
]

# Markdown extensions ("extra" brings attr_list, md_in_html, abbr, footnotes, tables).
MARKDOWN = [
    f'# Heading {{: onclick="{RUN}" }}',
    f'A paragraph\n{{: onmouseover="{RUN}" }}',
    f'[link](https://example.test){{: onmouseover="{RUN}" }}',
    f'<div markdown="1" onclick="{RUN}">**bold**</div>',
    f"*[HTML]: <img src=x onerror={RUN}>\n\nHTML here",
    f"Text[^1]\n\n[^1]: <img src=x onerror={RUN}>",
    f"| a | b |\n|---|---|\n| <img src=x onerror={RUN}> | [x](javascript:{RUN}) |",
    f'```{{.python onclick="{RUN}"}}\nprint(1)\n```',
    f"Term\n: <script>{RUN}</script>",
    f"> <img src=x onerror={RUN}>\n> quoted",
    f"    <script>{RUN}</script>",
    f"`<script>{RUN}</script>`",
]

CSS = [
    f"<style>@import 'data:text/css,body{{background:red}}';</style><script>{RUN}</script>",
    f'<div style="background:url(javascript:{RUN})">x</div>',
    f'<a style="x:expression({RUN})">x</a>',
    f'<p style="behavior:url(#default#time2)" onbegin="{RUN}">x</p>',
    f"<link rel=stylesheet href=data:text/css,*{{x:expression({RUN})}}>",
]

# Strings that evaluate in a template engine: they must come out as typed.
TEMPLATE_INJECTION = [
    "{{7*7}}",
    "{{ 7*'7' }}",
    "{% debug %}",
    "{{ request.user.password }}",
    "{{settings.SECRET_KEY}}",
    "${7*7}",
    "#{7*7}",
    "<%= 7*7 %>",
    "[[7*7]]",
    "{{constructor.constructor('window.__xss=1')()}}",
]

PAYLOADS: list[str] = [
    *SCRIPT_TAGS,
    *EVENT_HANDLERS,
    *MUTATION,
    *URLS,
    *BREAKING_OUT,
    *MARKDOWN,
    *CSS,
    *TEMPLATE_INJECTION,
]

assert len(PAYLOADS) >= 100, len(PAYLOADS)
assert len(set(PAYLOADS)) == len(PAYLOADS), "a payload is listed twice"
