<%@ page contentType="text/plain; charset=UTF-8" session="false" import="java.util.concurrent.atomic.AtomicInteger" %><%
  // busy.jsp?ms=200 : hold the request ms milliseconds, counting the requests this node holds at once
  // in application scope; busy.jsp?peak=1 reports the most held at once (and the count now) without
  // counting itself, busy.jsp?reset=1 also sets the peak back to 0. For Tether's max_conns tests.
  AtomicInteger cur, peak;
  synchronized (application) {
      cur = (AtomicInteger) application.getAttribute("busy.cur");
      peak = (AtomicInteger) application.getAttribute("busy.peak");
      if (cur == null) {
          cur = new AtomicInteger();
          peak = new AtomicInteger();
          application.setAttribute("busy.cur", cur);
          application.setAttribute("busy.peak", peak);
      }
  }
  String route = System.getProperty("lab.route", "?");
  if (request.getParameter("peak") != null || request.getParameter("reset") != null) {
      out.println("node=" + route);
      out.println("peak=" + (request.getParameter("reset") != null ? peak.getAndSet(0) : peak.get()));
      out.println("now=" + cur.get());
      return;
  }
  long ms = 200;
  try { ms = Long.parseLong(request.getParameter("ms")); } catch (Exception ignore) { }
  int n = cur.incrementAndGet();
  peak.accumulateAndGet(n, Math::max);
  try {
      Thread.sleep(ms);
  } finally {
      cur.decrementAndGet();
  }
  out.println("node=" + route);
  out.println("held=" + n);
%>
