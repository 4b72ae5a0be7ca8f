"""neonize messages and receipts in our shapes (app/whatsapp/web_parse.py), on neonize's own protobufs."""

from __future__ import annotations

from app.whatsapp import web_parse
from tests.helpers.fake_neonize import e2e, jid, proto


def event(content: object, chat: object = None, alt: object = None, **source: object) -> object:
    src = proto.MessageSource(Chat=chat or jid("56911112222"), Sender=chat or jid("56911112222"),
                              **({"SenderAlt": alt} if alt else {}), **source)
    info = proto.MessageInfo(MessageSource=src, ID="3A01", Pushname="Ana", Timestamp=1_764_300_000_123)
    return proto.Message(Info=info, Message=content)


def test_kinds_and_their_text() -> None:
    cases = [
        (e2e.Message(extendedTextMessage=e2e.ExtendedTextMessage(text="con link")), ("text", "con link")),
        (e2e.Message(documentMessage=e2e.DocumentMessage(fileName="boleta.pdf")), ("document", "boleta.pdf")),
        (e2e.Message(audioMessage=e2e.AudioMessage(PTT=True)), ("audio", "")),
        (e2e.Message(locationMessage=e2e.LocationMessage(degreesLatitude=-33.4, degreesLongitude=-70.6)),
         ("location", "-33.4,-70.6")),
        (e2e.Message(ephemeralMessage=e2e.FutureProofMessage(message=e2e.Message(conversation="efímero"))),
         ("text", "efímero")),
    ]
    for content, expected in cases:
        msg = web_parse.inbound(event(content))
        assert msg is not None and (msg.type, msg.body) == expected, content
    msg = web_parse.inbound(event(e2e.Message(conversation="hola")))
    assert (msg.wa_id, msg.from_phone, msg.name, msg.timestamp) == ("3A01", "56911112222", "Ana",
                                                                    1_764_300_000_123)


def test_protocol_messages_and_hidden_numbers() -> None:
    assert web_parse.inbound(event(e2e.Message(protocolMessage=e2e.ProtocolMessage(type=0)))) is None
    hidden = jid("2045678901234", "lid")
    assert web_parse.inbound(event(e2e.Message(conversation="x"), chat=hidden)).from_phone == \
        "lid:2045678901234"
    with_phone = web_parse.inbound(event(e2e.Message(conversation="x"), chat=hidden, alt=jid("5691")))
    assert with_phone.from_phone == "5691"
    assert web_parse.inbound(event(e2e.Message(conversation="x"), chat=jid("status", "broadcast"))) is None


def test_receipts() -> None:
    src = proto.MessageSource(Chat=jid("5691"), Sender=jid("5691"))
    played = proto.Receipt(MessageSource=src, MessageIDs=["a", "b"], Type=proto.Receipt.PLAYED)
    assert [(u.wa_id, u.status) for u in web_parse.receipts(played)] == [("a", "read"), ("b", "read")]
    failed = proto.Receipt(MessageSource=src, MessageIDs=["c"], Type=proto.Receipt.SERVER_ERROR)
    assert web_parse.receipts(failed)[0].error == "web_server_error"
    assert web_parse.receipts(proto.Receipt(MessageSource=src, MessageIDs=["d"],
                                            Type=proto.Receipt.READ_SELF)) == []
