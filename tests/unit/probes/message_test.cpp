#include "shmcheck/probes/message.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "shmcheck/probes/journal.hpp"

namespace shmcheck::probes {
namespace {

std::vector<std::byte> encoded(std::size_t size, std::uint64_t seed = 42,
                               std::uint32_t producer = 3, std::uint32_t incarnation = 1,
                               std::uint64_t seq = 77) {
  std::vector<std::byte> buf(size);
  EXPECT_TRUE(encode_message(buf, seed, producer, incarnation, seq, 123456789));
  return buf;
}

TEST(Message, EncodeThenVerifyRoundTripsEveryField) {
  for (const std::size_t size : {kMinMessageSize, kMinMessageSize + 1, std::size_t{64},
                                 std::size_t{67}, std::size_t{4096}}) {
    const auto buf = encoded(size);
    const DecodedMessage d = verify_message(buf, 42);
    ASSERT_EQ(d.status, MessageStatus::kOk) << "size " << size;
    EXPECT_EQ(d.header.producer, 3U);
    EXPECT_EQ(d.header.incarnation, 1U);
    EXPECT_EQ(d.header.seq, 77U);
    EXPECT_EQ(d.header.len, size - kMinMessageSize);
    EXPECT_EQ(d.header.send_tsc_or_ns, 123456789U);
  }
}

TEST(Message, EncodeIntoBufferSmallerThanHeaderFails) {
  std::vector<std::byte> buf(kMinMessageSize - 1, std::byte{0x5A});
  EXPECT_FALSE(encode_message(buf, 1, 0, 0, 1, 0));
  for (const std::byte b : buf) EXPECT_EQ(b, std::byte{0x5A});  // nothing written
}

TEST(Message, AnyFlippedByteIsDetectedAsTorn) {
  const auto original = encoded(64);
  for (std::size_t i = 0; i < original.size(); ++i) {
    auto buf = original;
    buf[i] ^= std::byte{0x01};
    EXPECT_EQ(verify_message(buf, 42).status, MessageStatus::kTorn) << "byte " << i;
  }
}

TEST(Message, TruncatedOrExtendedMessageIsTorn) {
  auto buf = encoded(64);
  EXPECT_EQ(verify_message(std::span(buf).first(63), 42).status, MessageStatus::kTorn);
  buf.push_back(std::byte{0});
  EXPECT_EQ(verify_message(buf, 42).status, MessageStatus::kTorn);
  EXPECT_EQ(verify_message(std::span(buf).first(10), 42).status, MessageStatus::kTorn);
}

TEST(Message, IntactMessageFromAnotherSeedIsForeign) {
  const auto buf = encoded(64, /*seed=*/7);
  EXPECT_EQ(verify_message(buf, 8).status, MessageStatus::kForeign);
  EXPECT_EQ(verify_message(buf, 7).status, MessageStatus::kOk);
}

TEST(Message, RechecksummedPayloadOfAnotherSeqIsForeign) {
  // A writer that is not our encoder: valid checksum, but the payload of seq 78 under seq 77.
  auto buf = encoded(64);
  MessageHeader header{};
  std::memcpy(&header, buf.data(), sizeof(header));
  fill_payload(std::span(buf).subspan(kMinMessageSize), 42, 3, 78);
  header.checksum = message_checksum(header, std::span(buf).subspan(kMinMessageSize));
  std::memcpy(buf.data(), &header, sizeof(header));
  EXPECT_EQ(verify_message(buf, 42).status, MessageStatus::kForeign);
}

TEST(Message, PayloadsDifferBetweenSeqsAndProducers) {
  const auto a = encoded(64, 42, 3, 1, 77);
  const auto b = encoded(64, 42, 3, 1, 78);
  const auto c = encoded(64, 42, 4, 1, 77);
  EXPECT_NE(std::memcmp(a.data() + kMinMessageSize, b.data() + kMinMessageSize, 24), 0);
  EXPECT_NE(std::memcmp(a.data() + kMinMessageSize, c.data() + kMinMessageSize, 24), 0);
}

TEST(Message, StatusNamesAreStable) {
  EXPECT_EQ(to_string(MessageStatus::kOk), "ok");
  EXPECT_EQ(to_string(MessageStatus::kTorn), "torn");
  EXPECT_EQ(to_string(MessageStatus::kForeign), "foreign");
}

TEST(DeliveryRecord, MadeFromAVerifiedMessageCarriesItsKeyAndStatus) {
  const auto buf = encoded(64, 42, 3, 1, 77);
  DeliveryRecord r = make_delivery_record(verify_message(buf, 42), 5);
  EXPECT_EQ(r.producer, 3U);
  EXPECT_EQ(r.incarnation, 1U);
  EXPECT_EQ(r.seq, 77U);
  EXPECT_EQ(r.status, DeliveryStatus::kOk);
  EXPECT_EQ(r.consumer_incarnation, 5U);
  EXPECT_EQ(make_delivery_record(verify_message(buf, 43), 0).status, DeliveryStatus::kForeign);
  auto torn = buf;
  torn[50] ^= std::byte{1};
  EXPECT_EQ(make_delivery_record(verify_message(torn, 42), 0).status, DeliveryStatus::kTorn);
  r = make_abandoned_record(1234, 2);
  EXPECT_EQ(r.status, DeliveryStatus::kAbandoned);
  EXPECT_EQ(r.claimer_pid, 1234);
  EXPECT_EQ(r.consumer_incarnation, 2U);
}

}  // namespace
}  // namespace shmcheck::probes
