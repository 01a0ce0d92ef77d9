<%@ page contentType="text/plain; charset=UTF-8" session="false" %><%
  // bench/run.sh "ajp" scenario: a cheap page through AJP. Never creates a session (the benchmark
  // cookie names one that does not exist). Counts its hits; ?count answers the count instead, so the
  // harness can tell how many requests the node that should get none (tomcat2) answered (misrouted).
  java.util.concurrent.atomic.AtomicLong hits = (java.util.concurrent.atomic.AtomicLong) application.getAttribute("bench.hits");
  if (hits == null) {
    synchronized (application) {
      hits = (java.util.concurrent.atomic.AtomicLong) application.getAttribute("bench.hits");
      if (hits == null) {
        hits = new java.util.concurrent.atomic.AtomicLong();
        application.setAttribute("bench.hits", hits);
      }
    }
  }
  if (request.getParameter("count") != null) {
    out.print(hits.get());
    return;
  }
  hits.incrementAndGet();
  out.println("node=" + System.getProperty("lab.route", "?"));
  out.println("hello from Tomcat through AJP");
%>
