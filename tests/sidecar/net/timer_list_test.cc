#include "sidecar/net/timer_list.h"

#include <vector>

#include "gtest/gtest.h"

namespace drover::net {
namespace {

struct Recorder : TimerHandler {
  explicit Recorder(int id_in, std::vector<int>* fired_in) : id(id_in), fired(fired_in) {}
  void OnTimeout() override { fired->push_back(id); }
  int id;
  std::vector<int>* fired;
  Timer timer{this};
};

// Timers fire in deadline order, only once due, and re-arming moves a timer to the back.
TEST(TimerListTest, FiresInOrderAndRearmMoves) {
  std::vector<int> fired;
  TimerList list(100);
  Recorder a(1, &fired), b(2, &fired), c(3, &fired);
  list.Arm(a.timer, 0);
  list.Arm(b.timer, 10);
  list.Arm(c.timer, 20);
  list.Arm(a.timer, 30);  // re-armed: now last
  EXPECT_EQ(list.NextDeadline(), 110);
  list.Expire(109);
  EXPECT_TRUE(fired.empty());
  list.Expire(125);
  EXPECT_EQ(fired, (std::vector<int>{2, 3}));
  EXPECT_FALSE(b.timer.armed());
  EXPECT_TRUE(a.timer.armed());
  list.Expire(1000);
  EXPECT_EQ(fired, (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(list.NextDeadline(), -1);
}

// A cancelled timer never fires, and arming into another list leaves the first one.
TEST(TimerListTest, CancelAndMoveBetweenLists) {
  std::vector<int> fired;
  TimerList short_list(10), long_list(1000);
  Recorder a(1, &fired), b(2, &fired);
  short_list.Arm(a.timer, 0);
  short_list.Arm(b.timer, 0);
  b.timer.Cancel();
  long_list.Arm(a.timer, 0);
  short_list.Expire(50);
  EXPECT_TRUE(fired.empty());
  long_list.Expire(1000);
  EXPECT_EQ(fired, (std::vector<int>{1}));
}

// A handler may re-arm its own timer while the list is expiring.
TEST(TimerListTest, HandlerMayRearmItself) {
  struct Again : TimerHandler {
    explicit Again(TimerList* l) : list(l) {}
    void OnTimeout() override {
      if (++count < 3) list->Arm(timer, now);
    }
    TimerList* list;
    int count = 0;
    int64_t now = 0;
    Timer timer{this};
  };
  TimerList list(5);
  Again again(&list);
  list.Arm(again.timer, 0);
  again.now = 5;
  list.Expire(5);  // fires once, re-armed for 10: not due yet
  EXPECT_EQ(again.count, 1);
  again.now = 10;
  list.Expire(10);
  again.now = 15;
  list.Expire(15);
  EXPECT_EQ(again.count, 3);
  EXPECT_FALSE(again.timer.armed());
}

}  // namespace
}  // namespace drover::net
