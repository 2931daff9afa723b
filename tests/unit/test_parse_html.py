"""HTML to visible text: hidden markup dropped, links kept, hostile input stays linear."""

from __future__ import annotations

from mailguard.parse.html import html_to_text
from mailguard.parse.model import Link


def text(html: str) -> str:
    return html_to_text(html).text


def test_blocks_become_lines_and_inline_tags_vanish() -> None:
    html = "<html><body><p>Dear <b>Customer</b>,</p><div>Line&nbsp;two<br>three</div></body></html>"
    assert text(html) == "Dear Customer,\nLine two\nthree"


def test_script_style_title_and_comments_are_not_visible() -> None:
    html = (
        "<head><title>TITLE</title><style>p{color:red}</style>"
        "<script>var s = '<p>scriptword</p>';</script></head>"
        "<body><!-- a comment <p>commented</p> --><p>visible</p><SCRIPT>x()</SCRIPT></body>"
    )
    assert text(html) == "visible"


def test_zero_font_size_inside_a_word_is_removed() -> None:
    html = (
        "<p>Your Nor<span style='font-size:0px'>xq</span>ton plan; "
        'Pay<span style="FONT-SIZE: 0">zz</span>Pal</p>'
    )
    assert text(html) == "Your Norton plan; PayPal"


def test_hidden_elements_are_dropped_with_their_children() -> None:
    html = (
        "<div style='display: none'>filler <div>nested</div> more filler</div>"
        "<p>one</p><div hidden>attr</div><p style='visibility:hidden'>vis</p>"
        "<span style='opacity:0'>op</span><span style='opacity:0.5'>half</span>"
        "<div style='max-height:0;overflow:hidden'>collapsed</div><p>two</p>"
    )
    assert text(html) == "one\nhalf\ntwo"


def test_unclosed_hidden_paragraph_ends_at_the_next_paragraph() -> None:
    assert text("<p style=display:none>gone<p>kept</p>") == "kept"


def test_aria_hidden_and_type_hidden_do_not_hide_text() -> None:
    html = "<span aria-hidden='true'>icon text</span><input type=hidden value=x><p>after</p>"
    assert text(html) == "icon text\nafter"


def test_classes_hidden_by_a_style_block_but_not_by_media_queries() -> None:
    html = (
        "<style>.pre { display:none } @media (max-width:600px) { .mob { display:none } }</style>"
        "<span class='x pre'>preheader</span><p class='mob'>desktop copy</p>"
    )
    assert text(html) == "desktop copy"


def test_comment_wrapped_css_still_hides() -> None:
    html = "<style><!-- .pre { display:none } --></style><span class=pre>filler</span><p>shown</p>"
    assert text(html) == "shown"


def test_links_keep_text_and_real_target() -> None:
    html = (
        '<p>Visit <a href="https://evil.example/login?a=1&amp;b=2">www.paypal.com</a> or '
        "<A HREF='tel:+18886113596'>call <b>us</b></A>, <a name=top>anchor</a>, "
        '<a href="https://hidden.example" style="display:none">secret</a></p>'
    )
    result = html_to_text(html)
    assert result.links == (
        Link(text="www.paypal.com", href="https://evil.example/login?a=1&b=2"),
        Link(text="call us", href="tel:+18886113596"),
    )
    assert result.text == "Visit www.paypal.com or call us, anchor,"


def test_entities_and_whitespace() -> None:
    html = "<p>A&amp;B &lt;tag&gt; &#x3042;&#12356; &copy;   spaced\n\tout &unknown;</p>"
    assert text(html) == "A&B <tag> あい © spaced out &unknown;"


def test_table_cells_are_separated() -> None:
    assert text("<table><tr><td>Total</td><td>$499.99</td></tr></table>") == "Total $499.99"


def test_stray_angle_brackets_are_text() -> None:
    assert text("3 < 5 and 7 > 2 <not a tag") == "3 < 5 and 7 > 2 <not a tag"


def test_hostile_input_finishes() -> None:
    # Each of these made a naive backtracking tokenizer quadratic or worse.
    for html in (
        "<a " * 20000,
        '<a href="' * 20000,
        "<!--" * 20000,
        "<script>" * 5000,
        "<div style='display:none'>" * 5000,
        "<style>" + ".a{" * 20000 + "</style>",
        "<" + "a" * 100000,
    ):
        assert isinstance(html_to_text(html).text, str)


def test_html_source_in_a_text_plain_part_is_read_as_html() -> None:
    """Phishing kits put the HTML source in the plain alternative too; the reader sees text."""
    from mailguard.parse import parse_message

    html = (
        "<html><body><table><tr><td><p style=\"line-height:1.6\">Dear Customer,</p>"
        "<p>We were unable to complete your payment.</p>"
        '<p><a href="https://pay.example/x">Update billing</a></p></td></tr></table>'
        "</body></html>"
    )
    raw = (
        "From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{html}\r\n"
        f"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b--\r\n"
    ).encode()
    msg = parse_message(raw)
    assert "<p" not in msg.body_text and "line-height" not in msg.body_text
    assert "unable to complete your payment" in msg.body_text
    assert "mime:html-in-text-plain" in msg.defects
    plain = raw.replace(html.encode(), b"Hello <3 see you at <the usual place> at 5")
    assert "mime:html-in-text-plain" not in parse_message(plain).defects, "a '<' is no HTML"


def test_blockquote_lines_read_as_quoted_lines() -> None:
    """A warning that quotes a fake bill in <blockquote> must read as quoting it."""
    html = (
        "<p>Members told us about this mail:</p>"
        "<blockquote style='border:1px dashed'>Dear Customer,<br>Call us to cancel."
        "<blockquote>Sent from an old thread</blockquote>back out</blockquote>"
        "<p>Do not call.</p>"
    )
    assert text(html) == (
        "Members told us about this mail:\n> Dear Customer,\n> Call us to cancel.\n"
        ">> Sent from an old thread\n> back out\nDo not call."
    )


def test_blockquote_unclosed_quotes_to_the_end_and_a_stray_close_is_ignored() -> None:
    assert text("<p>a</p></blockquote><p>b</p><BLOCKQUOTE>c<p>d</p>") == "a\nb\n> c\n> d"
    # The markers that stand for the tags are ours: the same characters in the input are not.
    assert text("<p>a</p><p>\x02</p><p>b</p><p>\x03</p>") == "a\nb"


def test_a_div_styled_as_a_quote_reads_as_quoted_lines() -> None:
    """Newsletters set off the fake invoice they show in a box with a bar down its left
    side or a dashed frame; those lines read as quoted, to the box's own closing tag
    (divs nest). A solid frame is layout and quotes nothing."""
    html = (
        "<div><p>One customer forwarded us this:</p>"
        "<div style='background:#f7f4ee;border-left:4px solid #b5542d'>Dear Customer,<br>"
        "Call us to cancel.<div>nested line</div>last line</div>"
        "<div style='border:2px dashed #c0392b'>Invoice # 7730</div>"
        "<div style='border:1px solid #ddd'>Plain box</div><p>We did not send it.</p></div>"
    )
    assert text(html) == (
        "One customer forwarded us this:\n> Dear Customer,\n> Call us to cancel.\n"
        "> nested line\n> last line\n> Invoice # 7730\nPlain box\nWe did not send it."
    )


def test_only_a_closed_quote_box_quotes_and_layout_borders_do_not() -> None:
    """A box left open does not quote the rest of the mail (an invisible wrapper must
    not turn a demand into a quotation); a stray </div> closes nothing; a dotted rule
    under a receipt row, a hairline divider and a white bar are layout."""
    assert text("<div style='border-left:4px solid #c00'>Call now<p>to cancel</p>") == (
        "Call now\nto cancel"
    )
    assert text("<p>a</p></div><div style='border:1px dotted #999'>q</div>") == "a\n> q"
    layout = (
        "<div style='border-bottom:1px dotted #ccc'>Norton 360 $449.99</div>"
        "<div style='border-left:1px solid #eee'>column</div>"
        "<div style='border-left:3px solid #ffffff'>white</div>"
    )
    assert text(layout) == "Norton 360 $449.99\ncolumn\nwhite"


def test_an_image_only_mail_reads_as_its_alt_text() -> None:
    # A lure drawn as pictures: with images off, a mail client shows the alt text,
    # and that is all the words the mail has.
    html = (
        '<table><tr><td><img src="https://x.example/h.png" alt="Card services"></td></tr>'
        '<tr><td><a href="https://x.example/p"><img src="https://x.example/b.png" '
        'alt="Your payment failed. Your card will be stopped on 22 April."></a></td></tr>'
        '<tr><td><img src="https://x.example/px.gif" width="1" height="1" alt=""></td></tr>'
        '<tr><td><img src="https://x.example/s.png" style="display:none" alt="hidden">'
        "</td></tr>"
        "<tr><td>If images do not show, change your mail settings.</td></tr></table>"
    )
    assert text(html) == (
        "Card services\nYour payment failed. Your card will be stopped on 22 April.\n"
        "If images do not show, change your mail settings."
    )


def test_alt_text_is_not_added_to_a_mail_with_a_real_body() -> None:
    body = "Thank you for your order. " * 10
    html = f'<p><img src="https://shop.example/logo.png" alt="Shop logo"></p><p>{body}</p>'
    assert text(html) == body.strip()
    assert "logo" not in text(html)


def test_alt_text_cannot_open_a_tag() -> None:
    html = '<img src="a.png" alt="pay &lt;b&gt;now&lt;/b&gt; &lt;script&gt;">'
    assert text(html) == "pay b now /b script"
